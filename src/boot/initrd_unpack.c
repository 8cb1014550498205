/* Host-side initrd decompression: the walk of init/initramfs.c's unpack_to_rootfs() over the
 * original initrd, the new initrd built on the way, and a second walk that checks it (see
 * initrd_unpack.h). The kernel's rules the walk follows:
 * - at the top level, '0' at a 4-aligned offset starts uncompressed archives (read until a
 *   non-zero byte after an entry), zeros are skipped one by one, anything else must be the
 *   2-byte magic of a compressed member, which resets the offset to 0 while it is read;
 * - a member's decompressed data is read as archives too: between entries only zeros, then
 *   '0' at a 4-aligned offset ("junk within compressed archive" otherwise); it must end
 *   between entries ("junk at the end of compressed archive");
 * - after a member the offset is the saved one plus the input its decompressor consumed. */
#include "boot/initrd_unpack.h"
#include "boot/initrd_cpio.h"
#include "boot/payload.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The kernel's table (lib/decompress.c): two bytes per format. */
static enum payload_format member_format(const uint8_t *p, size_t len)
{
	static const struct { uint8_t m[2]; enum payload_format f; } magic[] = {
		{ { 0x1f, 0x8b }, PAYLOAD_GZIP }, { { 0x42, 0x5a }, PAYLOAD_BZIP2 },
		{ { 0x5d, 0x00 }, PAYLOAD_LZMA }, { { 0xfd, 0x37 }, PAYLOAD_XZ },
		{ { 0x89, 0x4c }, PAYLOAD_LZO }, { { 0x02, 0x21 }, PAYLOAD_LZ4 },
		{ { 0x28, 0xb5 }, PAYLOAD_ZSTD },
	};
	for (size_t i = 0; len >= 2 && i < sizeof(magic) / sizeof(magic[0]); i++)
		if (p[0] == magic[i].m[0] && p[1] == magic[i].m[1])
			return magic[i].f;
	return PAYLOAD_UNKNOWN;
}

/* Append n bytes (zeros if src is NULL) to o. */
static int put(struct unpack_out *o, const void *src, size_t n, char *err, size_t errlen)
{
	if (n == 0)
		return 0;
	if (n > o->max - o->len)
		return error_set(err, errlen, -EFBIG, "it decompresses to more than the %zu-byte limit",
				 o->max);
	int r = unpack_out_reserve(o, n, err, errlen);
	if (r < 0)
		return r;
	if (src)
		memcpy(o->buf + o->len, src, n);
	else
		memset(o->buf + o->len, 0, n);
	o->len += n;
	return 0;
}

static int align4(struct unpack_out *o, char *err, size_t errlen)
{
	return put(o, NULL, (4 - (o->len & 3)) & 3, err, errlen);
}

/* Read a member's decompressed data d[0, n) as the kernel's flush_buffer() does. */
static void read_member(struct cpio_model *m, const uint8_t *d, size_t n)
{
	size_t q = 0;
	m->in_member = true;
	while (!m->why) {
		q += cpio_feed(m, d + q, n - q);
		if (m->why || q == n)
			break;
		if (d[q] == '0')
			m->state = CPIO_START;
		else
			m->why = "junk within compressed archive";
	}
	if (!m->why && m->state != CPIO_RESET)
		m->why = "junk at the end of compressed archive";
	m->in_member = false;
}

/* The walk. With out, also build the new initrd there; u counts the members. */
static int walk(const uint8_t *img, size_t len, struct cpio_model *m, struct unpack_out *out,
		struct initrd_unpacked *u, char *err, size_t errlen)
{
	size_t pos = 0;
	int r;
	m->state = CPIO_START;
	while (pos < len && !m->why) {
		if (img[pos] == '0' && !(m->th & 3)) {
			m->state = CPIO_START;
			size_t n = cpio_feed(m, img + pos, len - pos);
			if (out && ((r = align4(out, err, errlen)) < 0 || (r = put(out, img + pos, n, err, errlen)) < 0))
				return r;
			pos += n;
			continue;
		}
		if (img[pos] == 0) {
			pos++;
			m->th++;
			continue;
		}
		enum payload_format f = member_format(img + pos, len - pos);
		if (!out || f == PAYLOAD_UNKNOWN) {
			m->why = "invalid magic at start of compressed archive";
			break;
		}
		if ((r = align4(out, err, errlen)) < 0)
			return r;
		size_t start = out->len, used = 0;
		char why[192];
		if ((r = payload_member(f, img + pos, len - pos, out, &used, why, sizeof(why))) < 0)
			return error_set(err, errlen, r, "its %s archive at offset %zu: %s",
					 payload_format_name(f), pos, why);
		uint64_t saved = m->th;
		m->th = 0;
		static const uint8_t nothing[1];
		read_member(m, out->len > start ? out->buf + start : nothing, out->len - start);
		m->th = saved + used;
		pos += used;
		if (u->members++ < 4) {
			size_t k = strlen(u->formats);
			snprintf(u->formats + k, sizeof(u->formats) - k, "%s%s", k ? "+" : "",
				 payload_format_name(f));
		}
	}
	if (!m->why && m->state != CPIO_RESET && m->entries)
		m->why = "it ends inside a cpio entry";
	if (m->why)
		return error_set(err, errlen, -EINVAL,
				 "the kernel would read it with an error or differently "
				 "uncompressed (%s near offset %zu)",
				 m->why, pos);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int initrd_unpack(const uint8_t *img, size_t len, size_t max, struct initrd_unpacked *u, char *msg,
		  size_t msglen)
{
	static const char bootconfig[12] = "#BOOTCONFIG\n";
	uint64_t t0 = now_ns();
	memset(u, 0, sizeof(*u));
	if (len >= sizeof(bootconfig) && memcmp(img + len - sizeof(bootconfig), bootconfig,
						sizeof(bootconfig)) == 0) {
		snprintf(msg, msglen, "it ends with a bootconfig block, which must stay its last bytes");
		return 0;
	}
	/* A first walk without decompressing: an initrd with no compressed member (it reaches
	 * its end) is left as it is without being copied. */
	struct cpio_model m = { 0 };
	struct initrd_unpacked none = { 0 };
	if (walk(img, len, &m, NULL, &none, msg, msglen) == 0) {
		snprintf(msg, msglen, "it holds no compressed archive");
		return 0;
	}
	struct unpack_out out = { .max = max };
	m = (struct cpio_model){ .sum = true };
	int r = walk(img, len, &m, &out, u, msg, msglen);
	if (r < 0) {
		free(out.buf);
		return r;
	}
	/* The check: the new initrd, read the same way, is uncompressed throughout and holds the
	 * very same entries. */
	struct cpio_model v = { .sum = true };
	if (walk(out.buf, out.len, &v, NULL, &none, msg, msglen) < 0 || v.entries != m.entries ||
	    v.digest != m.digest) {
		snprintf(msg, msglen, "petrel's uncompressed initrd does not read as the original "
			 "(%llu entries, %llu expected)", (unsigned long long)v.entries,
			 (unsigned long long)m.entries);
		free(out.buf);
		return -EINVAL;
	}
	u->data = out.buf;
	u->len = out.len;
	u->entries = m.entries;
	u->ns = now_ns() - t0;
	return 1;
}
