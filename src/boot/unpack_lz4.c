/* LZ4 payloads (CONFIG_KERNEL_LZ4), with liblz4. The kernel build writes LZ4's legacy frame
 * format (`lz4 -l`): a 4-byte magic, then blocks of [le32 compressed size][LZ4 block], each
 * decompressing to at most 8 MiB, until the input ends; a repeated magic starts a new frame.
 * The format carries no checksum: the exact output length is the only end check. */
#include "boot/payload.h"
#include "boot/payload_lib.h"
#include "util/error.h"

#include <errno.h>
#include <lz4.h>
#include <stdio.h>

static __typeof__(&LZ4_decompress_safe) p_LZ4_decompress_safe;
#define LZ4_decompress_safe p_LZ4_decompress_safe
static const struct payload_sym syms[] = {
	{ "LZ4_decompress_safe", (void **)&p_LZ4_decompress_safe },
};

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static uint32_t le32(const uint8_t *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int unpack_lz4(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen)
{
	int r = payload_lib_load("liblz4.so.1", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (r < 0)
		return r;
	if (inlen < 4 || le32(in) != LZ4_LEGACY_MAGIC)
		return error_set(err, errlen, -EINVAL, "lz4: not a legacy-format LZ4 stream");
	size_t pos = 4, done = 0;
	const size_t bound = (size_t)LZ4_COMPRESSBOUND(LZ4_LEGACY_BLOCK);
	while (pos < inlen) {
		if (inlen - pos < 4)
			return error_set(err, errlen, -EINVAL,
					 "lz4: stream is truncated inside a block header");
		uint32_t csize = le32(in + pos);
		pos += 4;
		if (csize == LZ4_LEGACY_MAGIC)
			continue; /* a concatenated frame */
		if (csize == 0 || csize > bound || csize > inlen - pos)
			return error_set(err, errlen, -EINVAL,
					 "lz4: block of %u bytes at offset %zu is invalid or truncated",
					 csize, pos - 4);
		size_t room = outlen - done;
		if (room > LZ4_LEGACY_BLOCK)
			room = LZ4_LEGACY_BLOCK;
		int n = LZ4_decompress_safe((const char *)in + pos, (char *)out + done, (int)csize, (int)room);
		if (n < 0)
			return error_set(err, errlen, -EINVAL,
					 "lz4: block at offset %zu is corrupt or decompresses past %zu bytes",
					 pos - 4, outlen);
		pos += csize;
		done += (size_t)n;
	}
	if (done != outlen)
		return error_set(err, errlen, -EINVAL, "lz4: stream ends after %zu bytes, %zu expected", done,
				 outlen);
	return 0;
}

/* An initramfs member, read as the kernel's unlz4 (lib/decompress_unlz4.c) reads a whole
 * buffer: the magic, then blocks until fewer than 4 bytes are left or a block size of 0 (the
 * zero padding before a next member; the member ends before it); a repeated magic is
 * skipped. Legacy frames carry no end marker, so anything but zeros after an LZ4 member is
 * taken by the kernel as one more block. */
int member_lz4(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err,
	       size_t errlen)
{
	int r = payload_lib_load("liblz4.so.1", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
	if (r < 0)
		return r;
	if (inlen < 4 || le32(in) != LZ4_LEGACY_MAGIC)
		return error_set(err, errlen, -EINVAL, "lz4: not a legacy-format LZ4 stream");
	size_t pos = 4;
	while (inlen - pos >= 4) {
		uint32_t csize = le32(in + pos);
		if (csize == LZ4_LEGACY_MAGIC) {
			pos += 4;
			continue;
		}
		if (csize == 0)
			break;
		pos += 4;
		if (csize > inlen - pos)
			return error_set(err, errlen, -EINVAL,
					 "lz4: block of %u bytes at offset %zu is truncated", csize, pos - 4);
		if ((r = unpack_out_reserve(out, LZ4_LEGACY_BLOCK, err, errlen)) < 0)
			return r;
		size_t room = unpack_out_room(out);
		int n = LZ4_decompress_safe((const char *)in + pos, (char *)out->buf + out->len, (int)csize,
					    (int)(room < LZ4_LEGACY_BLOCK ? room : LZ4_LEGACY_BLOCK));
		if (n < 0)
			return error_set(err, errlen, room < LZ4_LEGACY_BLOCK ? -EFBIG : -EINVAL,
					 "lz4: block at offset %zu is corrupt%s", pos - 4,
					 room < LZ4_LEGACY_BLOCK ? " or past the output limit" : "");
		out->len += (size_t)n;
		pos += csize;
	}
	*used = pos;
	return 0;
}
