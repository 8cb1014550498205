/* File systems by their magic numbers (fsprobe.h). */
#include "diskboot/fsprobe.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define EXT_SB 1024
#define EXT_MAGIC 0xef53
#define EXT_COMPAT_JOURNAL 0x4u
#define EXT_INCOMPAT_EXT3 0x6u        /* filetype, recover: what ext3 may have */
#define EXT_RO_COMPAT_EXT3 0x7u       /* sparse_super, large_file, btree_dir */

static unsigned le16(const uint8_t *p) { return (unsigned)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16; }

/* A label from a fixed-size field: up to its first NUL, trailing blanks cut. */
static void label_of(const uint8_t *p, size_t n, char *out, size_t outlen)
{
	size_t len = 0;
	while (len < n && len + 1 < outlen && p[len])
		len++;
	while (len && p[len - 1] == ' ')
		len--;
	memcpy(out, p, len);
	out[len] = 0;
}

static void ext_id(const uint8_t *sb, struct fs_id *id)
{
	uint32_t compat = le32(sb + 0x5c), incompat = le32(sb + 0x60), ro = le32(sb + 0x64);
	id->ext = true;
	id->kind = (incompat & ~EXT_INCOMPAT_EXT3) || (ro & ~EXT_RO_COMPAT_EXT3) ? "ext4"
		   : compat & EXT_COMPAT_JOURNAL ? "ext3" : "ext2";
	/* ext stores its UUID in byte order, not EFI's mixed order */
	const uint8_t *u = sb + 0x68;
	snprintf(id->uuid, sizeof(id->uuid), "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
		 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	label_of(sb + 0x78, 16, id->label, sizeof(id->label));
}

static bool fat_id(const uint8_t *s, struct fs_id *id)
{
	if (s[510] != 0x55 || s[511] != 0xaa || (s[0] != 0xeb && s[0] != 0xe9))
		return false;
	bool fat32 = !memcmp(s + 82, "FAT32", 5), fat = fat32 || !memcmp(s + 54, "FAT", 3);
	if (!fat)
		return false;
	const uint8_t *serial = s + (fat32 ? 67 : 39);
	id->kind = "vfat";
	snprintf(id->uuid, sizeof(id->uuid), "%04X-%04X", le16(serial + 2), le16(serial));
	label_of(s + (fat32 ? 71 : 43), 11, id->label, sizeof(id->label));
	return true;
}

int fs_probe(const struct dsrc *part, struct fs_id *id)
{
	memset(id, 0, sizeof(*id));
	uint8_t b[4096];
	int r;
	if (part->size < sizeof(b))
		return 0;
	if ((r = dsrc_read(part, 0, b, sizeof(b))) < 0)
		return r;
	if (le16(b + EXT_SB + 0x38) == EXT_MAGIC) {
		ext_id(b + EXT_SB, id);
		return 0;
	}
	if (fat_id(b, id))
		return 0;
	static const struct { const char *kind; unsigned off; const char *magic; unsigned len; } magics[] = {
		{ "xfs", 0, "XFSB", 4 }, { "ntfs", 3, "NTFS    ", 8 }, { "LUKS", 0, "LUKS\xba\xbe", 6 },
		{ "squashfs", 0, "hsqs", 4 }, { "LVM2 physical volume", 512 + 24, "LVM2 001", 8 },
		{ "swap", 4086, "SWAPSPACE2", 10 }, { "swap", 4086, "SWAP-SPACE", 10 },
		{ "f2fs", 1024, "\x10\x20\xf5\xf2", 4 }, { "exfat", 3, "EXFAT   ", 8 },
	};
	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (!memcmp(b + magics[i].off, magics[i].magic, magics[i].len)) {
			id->kind = magics[i].kind;
			return 0;
		}
	uint8_t far[8];
	if (part->size >= 0x10040 + 8 && dsrc_read(part, 0x10040, far, 8) == 0 && !memcmp(far, "_BHRfS_M", 8))
		id->kind = "btrfs";
	else if (part->size >= 0x8001 + 5 && dsrc_read(part, 0x8001, far, 5) == 0 && !memcmp(far, "CD001", 5))
		id->kind = "iso9660";
	return 0;
}
