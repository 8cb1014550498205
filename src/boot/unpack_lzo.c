/* LZO payloads (CONFIG_KERNEL_LZO), with liblzo2. The kernel build writes lzop's file format
 * (`lzop -9`): a header (magic, versions, method, flags, mode, times, name, header checksum),
 * then blocks of [be32 uncompressed size][be32 compressed size][checksums][data] until an
 * uncompressed size of 0; a block whose sizes are equal is stored. liblzo2 decodes each LZO1X
 * block into the output buffer with bounds checks; the block checksums (Adler-32 and/or
 * CRC-32, zlib's functions) are verified. Headers with extra fields or multipart/filter
 * flags, which no kernel build writes, are refused. */
#include "boot/payload.h"
#include "boot/payload_lib.h"
#include "util/error.h"

#include <errno.h>
#include <lzo/lzo1x.h>
#include <string.h>
#include <zlib.h>

/* lzo_init() is a macro around __lzo_init_v2(). */
static __typeof__(&__lzo_init_v2) p_lzo_init_v2;
static __typeof__(&lzo1x_decompress_safe) p_lzo1x_decompress_safe;
#define __lzo_init_v2 p_lzo_init_v2
#define lzo1x_decompress_safe p_lzo1x_decompress_safe
static const struct payload_sym syms[] = {
	{ "__lzo_init_v2", (void **)&p_lzo_init_v2 },
	{ "lzo1x_decompress_safe", (void **)&p_lzo1x_decompress_safe },
};

enum {
	F_ADLER32_D = 0x1, F_ADLER32_C = 0x2, F_H_EXTRA_FIELD = 0x40, F_CRC32_D = 0x100,
	F_CRC32_C = 0x200, F_MULTIPART = 0x400, F_H_FILTER = 0x800, F_H_CRC32 = 0x1000,
};

static const uint8_t lzop_magic[9] = { 0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a };

struct rd {
	const uint8_t *p;
	size_t len, pos;
	int bad;
};

static uint32_t take(struct rd *r, unsigned n)
{
	uint32_t v = 0;
	if (r->len - r->pos < n) {
		r->bad = 1;
		r->pos = r->len;
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | r->p[r->pos++];
	return v;
}

/* Checksums present for a block: the uncompressed data's (d) or the compressed data's (c). */
static int check(struct rd *r, uint32_t flags, uint32_t adler_f, uint32_t crc_f,
		 const uint8_t *data, size_t len)
{
	if (flags & adler_f) {
		uint32_t want = take(r, 4);
		if (!r->bad && adler32(1, data, (uInt)len) != want)
			return -1;
	}
	if (flags & crc_f) {
		uint32_t want = take(r, 4);
		if (!r->bad && crc32(0, data, (uInt)len) != want)
			return -1;
	}
	return 0;
}

int unpack_lzo(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	int lr = payload_lib_load("liblzo2.so.2", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (lr < 0)
		return lr;
	if (lzo_init() != LZO_E_OK)
		return error_set(err, errlen, -EINVAL, "lzo: cannot initialise liblzo2");
	struct rd r = { in, inlen, 0, 0 };
	if (inlen < sizeof(lzop_magic) || memcmp(in, lzop_magic, sizeof(lzop_magic)) != 0)
		return error_set(err, errlen, -EINVAL, "lzo: not an lzop stream");
	r.pos = sizeof(lzop_magic);
	uint32_t version = take(&r, 2);
	take(&r, 2);                       /* library version */
	if (version >= 0x0940)
		take(&r, 2);               /* version needed to extract */
	uint32_t method = take(&r, 1);
	if (version >= 0x0940)
		take(&r, 1);               /* level */
	uint32_t flags = take(&r, 4);
	if (flags & (F_H_FILTER | F_MULTIPART | F_H_EXTRA_FIELD) || method < 1 || method > 3)
		return error_set(err, errlen, -EINVAL, "lzo: unsupported lzop header (method %u, flags 0x%x)",
				 method, flags);
	take(&r, 4);                       /* mode */
	take(&r, 4);                       /* mtime */
	if (version >= 0x0940)
		take(&r, 4);               /* mtime, high half */
	uint32_t name = take(&r, 1);
	size_t hdr_end = r.pos + name;
	if (r.bad || hdr_end > inlen)
		return error_set(err, errlen, -EINVAL, "lzo: truncated lzop header");
	r.pos = hdr_end;
	uint32_t hsum = take(&r, 4);
	const uint8_t *h = in + sizeof(lzop_magic);
	uInt hlen = (uInt)(hdr_end - sizeof(lzop_magic));
	uint32_t calc = flags & F_H_CRC32 ? (uint32_t)crc32(0, h, hlen) : (uint32_t)adler32(1, h, hlen);
	if (r.bad || hsum != calc)
		return error_set(err, errlen, -EINVAL, "lzo: lzop header checksum mismatch");
	size_t done = 0;
	for (;;) {
		uint32_t dlen = take(&r, 4);
		if (r.bad)
			return error_set(err, errlen, -EINVAL,
					 "lzo: stream is truncated after %zu bytes of output", done);
		if (dlen == 0)
			break;
		uint32_t clen = take(&r, 4);
		size_t dsum_at = r.pos;
		r.pos += (flags & F_ADLER32_D ? 4 : 0) + (flags & F_CRC32_D ? 4 : 0);
		if (clen < dlen)
			r.pos += (flags & F_ADLER32_C ? 4 : 0) + (flags & F_CRC32_C ? 4 : 0);
		if (r.bad || r.pos > inlen || clen == 0 || clen > dlen || clen > inlen - r.pos)
			return error_set(err, errlen, -EINVAL,
					 "lzo: block at offset %zu is invalid or truncated", dsum_at - 8);
		if (dlen > outlen - done)
			return error_set(err, errlen, -EINVAL, "lzo: stream holds more than %zu bytes",
					 outlen);
		const uint8_t *src = in + r.pos;
		if (clen < dlen) {
			lzo_uint got = dlen;
			int e = lzo1x_decompress_safe(src, clen, out + done, &got, NULL);
			if (e != LZO_E_OK || got != dlen)
				return error_set(err, errlen, -EINVAL,
						 "lzo: block at offset %zu is corrupt (%d)", dsum_at - 8, e);
		} else {
			memcpy(out + done, src, dlen);
		}
		struct rd sums = { in, r.pos, dsum_at, 0 };
		if (check(&sums, flags, F_ADLER32_D, F_CRC32_D, out + done, dlen) < 0 ||
		    (clen < dlen && check(&sums, flags, F_ADLER32_C, F_CRC32_C, src, clen) < 0))
			return error_set(err, errlen, -EINVAL, "lzo: block at offset %zu fails its checksum",
					 dsum_at - 8);
		r.pos += clen;
		done += dlen;
	}
	if (done != outlen)
		return error_set(err, errlen, -EINVAL, "lzo: stream ends after %zu bytes, %zu expected", done,
				 outlen);
	return 0;
}

/* An initramfs member, read as the kernel's unlzo (lib/decompress_unlzo.c) reads it: its
 * header parse (which skips the header checksum), then blocks of [be32 size][be32 compressed
 * size][4 bytes it skips][data] of at most 256 KiB until a size of 0. The kernel skips exactly
 * one checksum per block, so only files with one (lzop's default: an Adler-32 or CRC-32 of
 * the decompressed data) are read here, and only lzop 0.94+ headers (the layout the kernel's
 * parse assumes); the checksum, which the kernel does not check, is checked here. */
int member_lzo(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err,
	       size_t errlen)
{
	int lr = payload_lib_load("liblzo2.so.2", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (lr < 0)
		return lr;
	if (lzo_init() != LZO_E_OK)
		return error_set(err, errlen, -EINVAL, "lzo: cannot initialise liblzo2");
	struct rd r = { in, inlen, 0, 0 };
	if (inlen < 33 || memcmp(in, lzop_magic, sizeof(lzop_magic)) != 0)
		return error_set(err, errlen, -EINVAL, "lzo: not an lzop stream");
	r.pos = sizeof(lzop_magic);
	uint32_t version = take(&r, 2);
	r.pos += 5;                        /* library version, version needed, method */
	if (version >= 0x0940)
		r.pos++;                   /* level */
	uint32_t flags = take(&r, 4);
	uint32_t sums = flags & (F_ADLER32_D | F_ADLER32_C | F_CRC32_D | F_CRC32_C);
	if (version < 0x0940 || (flags & (F_H_FILTER | F_H_EXTRA_FIELD | F_MULTIPART)) ||
	    (sums != F_ADLER32_D && sums != F_CRC32_D))
		return error_set(err, errlen, -EINVAL,
				 "lzo: lzop header (version 0x%x, flags 0x%x) that the kernel reads "
				 "differently",
				 version, flags);
	r.pos += 12;                       /* mode, mtime (low, high) */
	uint32_t name = take(&r, 1);
	r.pos += name + 4;                 /* name, header checksum */
	if (r.bad || r.pos > inlen)
		return error_set(err, errlen, -EINVAL, "lzo: truncated lzop header");
	for (;;) {
		uint32_t dlen = take(&r, 4);
		if (r.bad)
			return error_set(err, errlen, -EINVAL, "lzo: stream is truncated (no end block)");
		if (dlen == 0)
			break;
		size_t at = r.pos - 4;
		uint32_t clen = take(&r, 4), want = take(&r, 4);
		if (r.bad || dlen > (256u << 10) || clen == 0 || clen > dlen || clen > inlen - r.pos)
			return error_set(err, errlen, -EINVAL,
					 "lzo: block at offset %zu is invalid or truncated", at);
		int e = unpack_out_reserve(out, dlen, err, errlen);
		if (e < 0)
			return e;
		if (unpack_out_room(out) < dlen)
			return error_set(err, errlen, -EFBIG,
					 "lzo: it decompresses to more than the %zu-byte limit", out->max);
		uint8_t *dst = out->buf + out->len;
		if (clen == dlen) {
			memcpy(dst, in + r.pos, dlen);
		} else {
			lzo_uint got = dlen;
			e = lzo1x_decompress_safe(in + r.pos, clen, dst, &got, NULL);
			if (e != LZO_E_OK || got != dlen)
				return error_set(err, errlen, -EINVAL,
						 "lzo: block at offset %zu is corrupt (%d)", at, e);
		}
		uint32_t calc = flags & F_CRC32_D ? (uint32_t)crc32(0, dst, dlen) : (uint32_t)adler32(1, dst, dlen);
		if (calc != want)
			return error_set(err, errlen, -EINVAL, "lzo: block at offset %zu fails its checksum",
					 at);
		out->len += dlen;
		r.pos += clen;
	}
	*used = r.pos;
	return 0;
}
