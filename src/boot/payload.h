/* The compressed kernel inside a bzImage (the "payload"): which format it is, and one
 * wrapper per format around Debian's decompression libraries. Every wrapper decompresses a
 * whole, untrusted stream into a caller-sized buffer and succeeds only when the stream ends
 * having produced exactly that many bytes: output is bounded by the buffer, never grown. */
#ifndef PETREL_BOOT_PAYLOAD_H
#define PETREL_BOOT_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

enum payload_format {
	PAYLOAD_UNKNOWN,
	PAYLOAD_GZIP,   /* zlib */
	PAYLOAD_BZIP2,  /* libbz2 */
	PAYLOAD_LZMA,   /* liblzma, the legacy .lzma ("alone") format */
	PAYLOAD_XZ,     /* liblzma */
	PAYLOAD_LZ4,    /* liblz4, the legacy frame format (lz4 -l) the kernel build uses */
	PAYLOAD_ZSTD,   /* libzstd */
	PAYLOAD_LZO,    /* liblzo2, lzop's file format */
};

/* Largest dictionary/window memory a decoder may allocate (xz/lzma dictionaries, zstd
 * windows): far above what kernel builds use (xz 32 MiB, lzma -9 64 MiB). */
#define PAYLOAD_DECODER_MEM_MAX (128u << 20)

/* The format, from the magic at the start of the payload (the kernel's own table). */
enum payload_format payload_detect(const uint8_t *p, size_t len);
const char *payload_format_name(enum payload_format f);

/* Decompress in[0, inlen) into out[0, outlen). 0, or -EINVAL with why in err (corrupt or
 * truncated stream, more or less output than outlen), -ENOMEM if a decoder could not get
 * its (bounded) working memory, -ENOTSUP for a format petrel does not decompress. */
int payload_decompress(enum payload_format f, const uint8_t *in, size_t inlen, uint8_t *out,
		       size_t outlen, char *err, size_t errlen);

/* The per-format wrappers (same contract). */
int unpack_gzip(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen);
int unpack_bzip2(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen);
int unpack_lzma(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen);
int unpack_xz(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen);
int unpack_lz4(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen);
int unpack_zstd(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen);
int unpack_lzo(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen, char *err, size_t errlen);

/* Where a decoder whose output size is not known in advance writes (an initramfs member):
 * grown on demand, never past max. */
struct unpack_out {
	uint8_t *buf;
	size_t len, cap, max;
};

/* Make room for min(want, max - len) more bytes. 0; -EFBIG (with why) if len is already
 * max; -ENOMEM. unpack_out_room() is what is free after it (capped by max). */
int unpack_out_reserve(struct unpack_out *o, size_t want, char *err, size_t errlen);
size_t unpack_out_room(const struct unpack_out *o);

/* Decode the one compressed member of an initramfs that starts at in, the way the guest
 * kernel's decompressor for its format does (lib/decompress_*.c, called by init/initramfs.c):
 * append its output to out and set *used to the input bytes that decompressor consumes (where
 * the kernel looks for the next member). 0; -EINVAL with why: corrupt, truncated, or a stream
 * the kernel would read differently from the format's own library (e.g. gzip header fields
 * the kernel does not skip); -EFBIG past out->max; -ENOMEM; -ENOTSUP library missing. */
int payload_member(enum payload_format f, const uint8_t *in, size_t inlen, struct unpack_out *out,
		   size_t *used, char *err, size_t errlen);
/* The per-format decoders (same contract), in unpack_<format>.c. */
int member_gzip(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err, size_t errlen);
int member_bzip2(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err, size_t errlen);
int member_lzma(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err, size_t errlen);
int member_xz(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err, size_t errlen);
int member_lz4(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err, size_t errlen);
int member_zstd(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err, size_t errlen);
int member_lzo(const uint8_t *in, size_t inlen, struct unpack_out *out, size_t *used, char *err, size_t errlen);

#endif
