/* bzImage payload formats: detection by magic and dispatch to the per-format wrappers. */
#include "boot/payload.h"
#include "util/error.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	enum payload_format f;
	const char *name;
	const char *magic;
	size_t len;
	int (*unpack)(const uint8_t *, size_t, uint8_t *, size_t, char *, size_t);
	int (*member)(const uint8_t *, size_t, struct unpack_out *, size_t *, char *, size_t);
} formats[] = {
	{ PAYLOAD_GZIP, "gzip", "\x1f\x8b", 2, unpack_gzip, member_gzip },
	{ PAYLOAD_BZIP2, "bzip2", "BZh", 3, unpack_bzip2, member_bzip2 },
	{ PAYLOAD_LZMA, "lzma", "\x5d\x00\x00", 3, unpack_lzma, member_lzma },
	{ PAYLOAD_XZ, "xz", "\xfd" "7zXZ\x00", 6, unpack_xz, member_xz },
	{ PAYLOAD_LZ4, "lz4", "\x02\x21\x4c\x18", 4, unpack_lz4, member_lz4 },
	{ PAYLOAD_ZSTD, "zstd", "\x28\xb5\x2f\xfd", 4, unpack_zstd, member_zstd },
	{ PAYLOAD_LZO, "lzo", "\x89LZO", 4, unpack_lzo, member_lzo },
};

enum payload_format payload_detect(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (len >= formats[i].len && memcmp(p, formats[i].magic, formats[i].len) == 0)
			return formats[i].f;
	return PAYLOAD_UNKNOWN;
}

const char *payload_format_name(enum payload_format f)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].f == f)
			return formats[i].name;
	return "unknown";
}

int payload_decompress(enum payload_format f, const uint8_t *in, size_t inlen, uint8_t *out,
		       size_t outlen, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].f == f && formats[i].unpack)
			return formats[i].unpack(in, inlen, out, outlen, err, errlen);
	return error_set(err, errlen, -ENOTSUP, "petrel does not decompress %s payloads",
			 payload_format_name(f));
}

int payload_member(enum payload_format f, const uint8_t *in, size_t inlen, struct unpack_out *out,
		   size_t *used, char *err, size_t errlen)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (formats[i].f == f)
			return formats[i].member(in, inlen, out, used, err, errlen);
	return error_set(err, errlen, -ENOTSUP, "petrel does not decompress %s data", payload_format_name(f));
}

int unpack_out_reserve(struct unpack_out *o, size_t want, char *err, size_t errlen)
{
	if (o->len >= o->max)
		return error_set(err, errlen, -EFBIG, "it decompresses to more than the %zu-byte limit",
				 o->max);
	if (want > o->max - o->len)
		want = o->max - o->len;
	if (o->cap - o->len >= want)
		return 0;
	size_t cap = o->cap ? o->cap : (1u << 20);
	while (cap - o->len < want)
		cap = cap > SIZE_MAX / 2 ? SIZE_MAX : cap * 2;
	if (cap > o->max)
		cap = o->max;
	uint8_t *b = realloc(o->buf, cap);
	if (!b)
		return error_set(err, errlen, -ENOMEM, "cannot allocate %zu MiB to decompress into",
				 cap >> 20);
	o->buf = b;
	o->cap = cap;
	return 0;
}

size_t unpack_out_room(const struct unpack_out *o)
{
	size_t end = o->cap < o->max ? o->cap : o->max;
	return end > o->len ? end - o->len : 0;
}
