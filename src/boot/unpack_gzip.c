/* gzip payloads (CONFIG_KERNEL_GZIP), with zlib. The gzip trailer's CRC-32 and length are
 * checked by zlib; bytes after the gzip member are ignored, as the kernel does. */
#include "boot/payload.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <zlib.h>

int unpack_gzip(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	z_stream s = { 0 };
	int r = inflateInit2(&s, 16 + MAX_WBITS); /* gzip wrapper only */
	if (r != Z_OK) {
		snprintf(err, errlen, "gzip: cannot initialise zlib (%d)", r);
		return r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}
	size_t in_done = 0, out_done = 0;
	int ret = -EINVAL;
	for (;;) {
		/* zlib counts in uInt: feed at most UINT_MAX bytes at a time. */
		size_t ia = inlen - in_done, oa = outlen - out_done;
		s.next_in = (Bytef *)(uintptr_t)(in + in_done);
		s.avail_in = (uInt)(ia > UINT_MAX ? UINT_MAX : ia);
		s.next_out = out + out_done;
		s.avail_out = (uInt)(oa > UINT_MAX ? UINT_MAX : oa);
		uInt ai = s.avail_in, ao = s.avail_out;
		r = inflate(&s, Z_NO_FLUSH);
		in_done += ai - s.avail_in;
		out_done += ao - s.avail_out;
		if (r == Z_STREAM_END) {
			if (out_done == outlen)
				ret = 0;
			else
				snprintf(err, errlen, "gzip: stream ends after %zu bytes, %zu expected",
					 out_done, outlen);
			break;
		}
		if (r == Z_MEM_ERROR) {
			snprintf(err, errlen, "gzip: out of memory");
			ret = -ENOMEM;
			break;
		}
		if (r != Z_OK && r != Z_BUF_ERROR) {
			snprintf(err, errlen, "gzip: corrupt stream (%s)", s.msg ? s.msg : "error");
			break;
		}
		if (ai == s.avail_in && ao == s.avail_out) { /* no progress */
			if (in_done == inlen)
				snprintf(err, errlen, "gzip: stream is truncated after %zu bytes of output",
					 out_done);
			else
				snprintf(err, errlen, "gzip: stream holds more than %zu bytes", outlen);
			break;
		}
	}
	inflateEnd(&s);
	return ret;
}
