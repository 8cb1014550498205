/* gzip payloads (CONFIG_KERNEL_GZIP), with zlib. The gzip trailer's CRC-32 and length are
 * checked by zlib; bytes after the gzip member are ignored, as the kernel does. */
#include "boot/payload.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

/* One inflate() from in + *in_done into dst[0, room) (zlib counts in uInt: at most UINT_MAX
 * bytes each way): advances *in_done, sets *made to the bytes written. */
static int step(z_stream *s, const uint8_t *in, size_t inlen, size_t *in_done, uint8_t *dst,
		size_t room, size_t *made)
{
	size_t ia = inlen - *in_done;
	s->next_in = (Bytef *)(uintptr_t)(in + *in_done);
	s->avail_in = (uInt)(ia > UINT_MAX ? UINT_MAX : ia);
	s->next_out = dst;
	s->avail_out = (uInt)(room > UINT_MAX ? UINT_MAX : room);
	uInt ai = s->avail_in, ao = s->avail_out;
	int r = inflate(s, Z_NO_FLUSH);
	*in_done += ai - s->avail_in;
	*made = ao - s->avail_out;
	return r;
}

int unpack_gzip(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	z_stream s = { 0 };
	int r = inflateInit2(&s, 16 + MAX_WBITS); /* gzip wrapper only */
	if (r != Z_OK)
		return error_set(err, errlen, r == Z_MEM_ERROR ? -ENOMEM : -EINVAL,
				 "gzip: cannot initialise zlib (%d)", r);
	size_t in_done = 0, out_done = 0;
	int ret = -EINVAL;
	for (;;) {
		size_t before = in_done, made;
		r = step(&s, in, inlen, &in_done, out + out_done, outlen - out_done, &made);
		out_done += made;
		if (r == Z_STREAM_END) {
			if (out_done == outlen)
				ret = 0;
			else
				ret = error_set(err, errlen, -EINVAL,
						"gzip: stream ends after %zu bytes, %zu expected", out_done,
						outlen);
			break;
		}
		if (r == Z_MEM_ERROR) {
			ret = error_set(err, errlen, -ENOMEM, "gzip: out of memory");
			break;
		}
		if (r != Z_OK && r != Z_BUF_ERROR) {
			ret = error_set(err, errlen, -EINVAL, "gzip: corrupt stream (%s)",
					s.msg ? s.msg : "error");
			break;
		}
		if (in_done == before && made == 0) { /* no progress */
			if (in_done == inlen)
				ret = error_set(err, errlen, -EINVAL,
						"gzip: stream is truncated after %zu bytes of output",
						out_done);
			else
				ret = error_set(err, errlen, -EINVAL,
						"gzip: stream holds more than %zu bytes", outlen);
			break;
		}
	}
	inflateEnd(&s);
	return ret;
}

/* An initramfs member, read as the kernel's gunzip (lib/decompress_inflate.c) reads it: the
 * magic 1f 8b with method 8, ten header bytes, a NUL-ended name if FNAME is set, then raw
 * deflate; the next member starts 8 bytes (the trailer) after the deflate stream ends. The
 * kernel skips no other optional field (FEXTRA, FCOMMENT, FHCRC), so a header with one would
 * be read there as deflate data: refused. The trailer's CRC-32 and size, which the kernel
 * does not check, are checked here. */
int member_gzip(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err,
		size_t errlen)
{
	enum { FNAME = 0x08 };
	if (inlen < 10 || in[0] != 0x1f || in[1] != 0x8b || in[2] != 8)
		return error_set(err, errlen, -EINVAL,
				 "gzip: not a deflate gzip member (the kernel wants 1f 8b 08)");
	if (in[3] & ~FNAME)
		return error_set(err, errlen, -EINVAL,
				 "gzip: header flags 0x%02x (extra field, comment or header CRC) "
				 "that the kernel does not skip",
				 in[3]);
	size_t p = 10;
	if (in[3] & FNAME) {
		const uint8_t *nul = memchr(in + p, 0, inlen - p);
		if (!nul)
			return error_set(err, errlen, -EINVAL, "gzip: the member's name has no end");
		p = (size_t)(nul - in) + 1;
	}
	z_stream s = { 0 };
	int r = inflateInit2(&s, -MAX_WBITS);
	if (r != Z_OK)
		return error_set(err, errlen, r == Z_MEM_ERROR ? -ENOMEM : -EINVAL,
				 "gzip: cannot initialise zlib (%d)", r);
	size_t start = out->len, in_done = p;
	int ret = 0;
	for (;;) {
		if ((ret = unpack_out_reserve(out, 256u << 10, err, errlen)) < 0)
			break;
		size_t before = in_done, made;
		r = step(&s, in, inlen, &in_done, out->buf + out->len, unpack_out_room(out), &made);
		out->len += made;
		if (r == Z_STREAM_END)
			break;
		ret = -EINVAL;
		if (r == Z_MEM_ERROR) {
			ret = error_set(err, errlen, -ENOMEM, "gzip: out of memory");
			break;
		}
		if (r != Z_OK && r != Z_BUF_ERROR) {
			ret = error_set(err, errlen, -EINVAL, "gzip: corrupt stream (%s)",
					s.msg ? s.msg : "error");
			break;
		}
		if (in_done == before && made == 0) {
			ret = error_set(err, errlen, -EINVAL,
					"gzip: member is truncated after %zu bytes of output",
					out->len - start);
			break;
		}
		ret = 0;
	}
	inflateEnd(&s);
	if (ret < 0)
		return ret;
	if (inlen - in_done < 8)
		return error_set(err, errlen, -EINVAL, "gzip: member has no trailer");
	const uint8_t *t = in + in_done;
	uint32_t crc = (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
	uint32_t isize = (uint32_t)t[4] | (uint32_t)t[5] << 8 | (uint32_t)t[6] << 16 | (uint32_t)t[7] << 24;
	size_t n = out->len - start;
	uLong c = crc32(0, Z_NULL, 0);
	for (size_t off = 0; off < n;) { /* crc32() counts in uInt */
		size_t k = n - off > (1u << 30) ? (1u << 30) : n - off;
		c = crc32(c, out->buf + start + off, (uInt)k);
		off += k;
	}
	if ((uint32_t)c != crc || (uint32_t)n != isize)
		return error_set(err, errlen, -EINVAL,
				 "gzip: the member's trailer does not match its data (CRC or size)");
	*used = in_done + 8;
	return 0;
}
