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

#endif
