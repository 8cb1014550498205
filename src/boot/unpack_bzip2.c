/* bzip2 payloads (CONFIG_KERNEL_BZIP2), with libbz2 (its decoder needs at most ~3.7 MiB,
 * whatever the input says). Block CRCs and the stream CRC are checked by libbz2. */
#include "boot/payload.h"
#include "boot/payload_lib.h"
#include "util/error.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>

static __typeof__(&BZ2_bzDecompressInit) p_BZ2_bzDecompressInit;
static __typeof__(&BZ2_bzDecompress) p_BZ2_bzDecompress;
static __typeof__(&BZ2_bzDecompressEnd) p_BZ2_bzDecompressEnd;
#define BZ2_bzDecompressInit p_BZ2_bzDecompressInit
#define BZ2_bzDecompress p_BZ2_bzDecompress
#define BZ2_bzDecompressEnd p_BZ2_bzDecompressEnd
static const struct payload_sym syms[] = {
	{ "BZ2_bzDecompressInit", (void **)&p_BZ2_bzDecompressInit },
	{ "BZ2_bzDecompress", (void **)&p_BZ2_bzDecompress },
	{ "BZ2_bzDecompressEnd", (void **)&p_BZ2_bzDecompressEnd },
};

/* One BZ2_bzDecompress() from in + *in_done into dst[0, room) (libbz2 counts in unsigned):
 * advances *in_done, sets *made to the bytes written. */
static int step(bz_stream *s, const uint8_t *in, size_t inlen, size_t *in_done, uint8_t *dst,
		size_t room, size_t *made)
{
	size_t ia = inlen - *in_done;
	s->next_in = (char *)(uintptr_t)(in + *in_done);
	s->avail_in = (unsigned)(ia > UINT_MAX ? UINT_MAX : ia);
	s->next_out = (char *)dst;
	s->avail_out = (unsigned)(room > UINT_MAX ? UINT_MAX : room);
	unsigned ai = s->avail_in, ao = s->avail_out;
	int r = BZ2_bzDecompress(s);
	*in_done += ai - s->avail_in;
	*made = ao - s->avail_out;
	return r;
}

/* libbz2 loaded and a decoder set up in s: 0, or -errno and why. */
static int bz_open(bz_stream *s, char *err, size_t errlen)
{
	int r = payload_lib_load("libbz2.so.1.0", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (r < 0)
		return r;
	r = BZ2_bzDecompressInit(s, 0, 0);
	if (r != BZ_OK)
		return error_set(err, errlen, r == BZ_MEM_ERROR ? -ENOMEM : -EINVAL,
				 "bzip2: cannot initialise libbz2 (%d)", r);
	return 0;
}

/* A step that returned neither BZ_OK nor BZ_STREAM_END: -errno and why. */
static int bz_failed(int r, char *err, size_t errlen)
{
	if (r == BZ_MEM_ERROR)
		return error_set(err, errlen, -ENOMEM, "bzip2: out of memory");
	return error_set(err, errlen, -EINVAL, "bzip2: corrupt stream (%d)", r);
}

int unpack_bzip2(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	bz_stream s = { 0 };
	int r = bz_open(&s, err, errlen);
	if (r < 0)
		return r;
	size_t in_done = 0, out_done = 0;
	int ret = -EINVAL;
	for (;;) {
		size_t before = in_done, made;
		r = step(&s, in, inlen, &in_done, out + out_done, outlen - out_done, &made);
		out_done += made;
		if (r == BZ_STREAM_END) {
			if (out_done == outlen)
				ret = 0;
			else
				ret = error_set(err, errlen, -EINVAL,
						"bzip2: stream ends after %zu bytes, %zu expected", out_done,
						outlen);
			break;
		}
		if (r != BZ_OK) {
			ret = bz_failed(r, err, errlen);
			break;
		}
		if (in_done == before && made == 0) {
			if (in_done == inlen)
				ret = error_set(err, errlen, -EINVAL,
						"bzip2: stream is truncated after %zu bytes of output",
						out_done);
			else
				ret = error_set(err, errlen, -EINVAL,
						"bzip2: stream holds more than %zu bytes", outlen);
			break;
		}
	}
	BZ2_bzDecompressEnd(&s);
	return ret;
}

/* An initramfs member: one bzip2 stream, as the kernel's bunzip2 (lib/decompress_bunzip2.c)
 * reads it, up to the stream's end marker and combined CRC (both readers take input a byte
 * at a time, so both stop at the same byte); a following stream is another member. */
int member_bzip2(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err,
		 size_t errlen)
{
	bz_stream s = { 0 };
	int r = bz_open(&s, err, errlen);
	if (r < 0)
		return r;
	size_t in_done = 0;
	int ret = 0;
	for (;;) {
		if ((ret = unpack_out_reserve(out, 256u << 10, err, errlen)) < 0)
			break;
		size_t before = in_done, made;
		r = step(&s, in, inlen, &in_done, out->buf + out->len, unpack_out_room(out), &made);
		out->len += made;
		if (r == BZ_STREAM_END)
			break;
		ret = -EINVAL;
		if (r != BZ_OK) {
			ret = bz_failed(r, err, errlen);
			break;
		}
		if (in_done == before && made == 0) {
			ret = error_set(err, errlen, -EINVAL, "bzip2: stream is truncated");
			break;
		}
		ret = 0;
	}
	BZ2_bzDecompressEnd(&s);
	if (ret == 0)
		*used = in_done;
	return ret;
}
