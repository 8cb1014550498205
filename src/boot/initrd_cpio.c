/* The kernel's cpio reader, modelled (see initrd_cpio.h). Where the kernel's own behaviour
 * depends on how its decompressor cuts the output into pieces (an entry it skips without
 * reading its name: a name size of 0 or over PATH_MAX, a long symlink target, data on
 * something that is not a file), or on things it parses leniently (non-hex header digits),
 * the model gives up: the initrd then goes to the kernel as it is. */
#include "boot/initrd_cpio.h"

#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define CPIO_HDR 110
#define CPIO_PATH_MAX 4096
#define N_ALIGN(len) ((((len) + 1) & ~3ull) + 2)   /* the kernel's: name size so that the
						    * header and name end 4-aligned */

static int hex8(const uint8_t *s, uint32_t *v)
{
	uint32_t x = 0;
	for (int i = 0; i < 8; i++) {
		uint8_t c = s[i];
		unsigned d = c >= '0' && c <= '9' ? c - '0'
			   : c >= 'a' && c <= 'f' ? c - 'a' + 10
			   : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 16;
		if (d == 16)
			return -1;
		x = x << 4 | d;
	}
	*v = x;
	return 0;
}

/* The kernel's early loaders (CPU microcode, ACPI table upgrades) look for kernel/... in the
 * uncompressed archives at the start of the initrd: once a compressed archive is stored
 * uncompressed they could find such a file in it, where they did not before. */
static bool early_name(const char *name)
{
	while (*name == '/' || (name[0] == '.' && name[1] == '/'))
		name += *name == '/' ? 1 : 2;
	return strncmp(name, "kernel/", 7) == 0;
}

static size_t fail(struct cpio_model *m, const char *why, size_t consumed)
{
	m->why = why;
	return consumed;
}

size_t cpio_feed(struct cpio_model *m, const uint8_t *buf, size_t len)
{
	size_t p = 0;
	for (;;) {
		if (m->state == CPIO_RESET) {
			while (p < len && buf[p] == 0) {
				p++;
				m->th++;
			}
			if (p < len && (m->th & 3))
				return fail(m, "broken padding", p);
			return p;
		}
		if (p == len)
			return p;
		if (len - p < CPIO_HDR)
			return fail(m, "truncated cpio header", p);
		const uint8_t *h = buf + p;
		bool crc;
		if (memcmp(h, "070701", 6) == 0)
			crc = false;
		else if (memcmp(h, "070702", 6) == 0)
			crc = true;
		else
			return fail(m, memcmp(h, "070707", 6) == 0 ? "old cpio format (not newc)"
								 : "no cpio magic", p);
		uint32_t f[13];
		for (int i = 0; i < 13; i++)
			if (hex8(h + 6 + 8 * i, &f[i]) < 0)
				return fail(m, "a cpio header field that is not 8 hex digits", p);
		uint32_t mode = f[1], body = f[6], namelen = f[11], sum = f[12];
		if (namelen == 0 || namelen > CPIO_PATH_MAX)
			return fail(m, "a cpio entry with a name size the kernel skips", p);
		if (S_ISLNK(mode) ? body > CPIO_PATH_MAX : !S_ISREG(mode) && body)
			return fail(m, "a cpio entry with data the kernel skips", p);
		/* th is a multiple of 4 here: entries start aligned (checked at RESET). */
		uint64_t elen = (CPIO_HDR + N_ALIGN(namelen) + body + 3) & ~3ull;
		if (elen > len - p)
			return fail(m, "truncated cpio entry", p);
		const char *name = (const char *)h + CPIO_HDR;
		if (name[namelen - 1] != 0)
			return fail(m, "a cpio name without its NUL", p);
		if (crc && S_ISREG(mode)) {
			uint32_t s = 0;
			const uint8_t *d = h + CPIO_HDR + N_ALIGN(namelen);
			for (uint32_t i = 0; i < body; i++)
				s += d[i];
			if (s != sum)
				return fail(m, "bad data checksum", p);
		}
		if (m->in_member && early_name(name))
			return fail(m, "a compressed archive holds kernel/..., which the kernel's early "
				       "loaders would see once it is uncompressed", p);
		for (uint64_t off = 0; m->sum && off < elen;) {
			uint64_t k = elen - off > (1u << 30) ? (1u << 30) : elen - off;
			m->digest = (uint32_t)crc32(m->digest, h + off, (uInt)k);
			off += k;
		}
		m->entries++;
		p += elen;
		m->th += elen;
		m->state = CPIO_RESET;
	}
}
