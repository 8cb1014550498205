/* MBR and GPT partition tables (partitions.h). */
#include "diskboot/partitions.h"
#include "util/crc32.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GPT_HEADER_MIN 92
#define GPT_ENTRY_MIN 128
#define GPT_ENTRY_MAX 4096

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

const char *part_table_name(enum part_table t)
{
	return t == PART_MBR ? "msdos" : t == PART_GPT ? "gpt" : "none";
}

void guid_format(const uint8_t g[16], char out[37])
{
	snprintf(out, 37, "%08x-%04x-%04x-%02x%02x-%02x%02x%02x%02x%02x%02x", le32(g), (unsigned)(g[4] | g[5] << 8),
		 (unsigned)(g[6] | g[7] << 8), g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
}

void part_uuid(const struct dpart_list *l, const struct dpart *p, char out[40])
{
	if (l->table == PART_GPT)
		guid_format(p->guid, out);
	else if (l->table == PART_MBR)
		snprintf(out, 40, "%08x-%02x", l->mbr_id, p->num);
	else
		out[0] = 0;
}

static int add(struct dpart_list *l, unsigned num, uint64_t lba, uint64_t count, uint64_t disk_size, char *err,
	       size_t errlen)
{
	uint64_t sectors = disk_size / DISKBOOT_SECTOR;
	if (lba >= sectors || count > sectors - lba)
		return error_set(err, errlen, -EINVAL, "%s partition %u: sectors %llu+%llu lie beyond the disk's end "
				 "(%llu sectors)", part_table_name(l->table), num, (unsigned long long)lba,
				 (unsigned long long)count, (unsigned long long)sectors);
	if (l->n == DISKBOOT_MAX_PARTS)
		return error_set(err, errlen, -EINVAL, "more than %d partitions", DISKBOOT_MAX_PARTS);
	struct dpart *p = &l->p[l->n++];
	memset(p, 0, sizeof(*p));
	p->num = num;
	p->start = lba * DISKBOOT_SECTOR;
	p->size = count * DISKBOOT_SECTOR;
	return 0;
}

static bool is_extended(uint8_t type) { return type == 0x05 || type == 0x0f || type == 0x85; }

/* The chain of extended boot records from the extended partition at ext (sectors): each holds
 * one logical partition (relative to itself) and the link to the next (relative to ext). */
static int read_logical(const struct dsrc *disk, struct dpart_list *l, uint64_t ext, uint64_t ext_count, char *err,
			size_t errlen)
{
	uint8_t s[DISKBOOT_SECTOR];
	uint64_t rel = 0;
	for (unsigned num = 5;; num++) {
		if (num - 5 >= DISKBOOT_MAX_PARTS)
			return error_set(err, errlen, -EINVAL, "msdos: more than %d logical partitions (a loop?)",
					 DISKBOOT_MAX_PARTS);
		int r = dsrc_read(disk, (ext + rel) * DISKBOOT_SECTOR, s, sizeof(s));
		if (r < 0)
			return error_set(err, errlen, r, "msdos: cannot read the extended boot record at sector %llu: %s",
					 (unsigned long long)(ext + rel), strerror(-r));
		if (s[510] != 0x55 || s[511] != 0xaa)
			return error_set(err, errlen, -EINVAL, "msdos: no signature in the extended boot record at "
					 "sector %llu", (unsigned long long)(ext + rel));
		const uint8_t *e = s + 446, *next = s + 462;
		if (e[4] && le32(e + 12)) {
			uint64_t start = ext + rel + le32(e + 8);
			if (rel + le32(e + 8) + (uint64_t)le32(e + 12) > ext_count)
				return error_set(err, errlen, -EINVAL, "msdos partition %u: outside its extended partition", num);
			if ((r = add(l, num, start, le32(e + 12), disk->size, err, errlen)) < 0)
				return r;
			l->p[l->n - 1].mbr_type = e[4];
		}
		if (!next[4] || !le32(next + 8))
			return 0;
		/* each link points further on: a chain that goes back is a loop */
		if (le32(next + 8) <= rel || le32(next + 8) >= ext_count)
			return error_set(err, errlen, -EINVAL, "msdos: the extended boot record at sector %llu links "
					 "to sector %llu, not further inside the extended partition (a loop?)",
					 (unsigned long long)(ext + rel), (unsigned long long)(ext + le32(next + 8)));
		rel = le32(next + 8);
	}
}

static int read_mbr(const struct dsrc *disk, const uint8_t *s, struct dpart_list *l, char *err, size_t errlen)
{
	l->table = PART_MBR;
	l->mbr_id = le32(s + 440);
	int r = 0;
	for (unsigned i = 0; i < 4 && !r; i++) {
		const uint8_t *e = s + 446 + 16 * i;
		uint8_t type = e[4];
		if (!type || !le32(e + 12))
			continue;
		r = add(l, i + 1, le32(e + 8), le32(e + 12), disk->size, err, errlen);
		if (!r)
			l->p[l->n - 1].mbr_type = type;
		if (!r && is_extended(type))
			r = read_logical(disk, l, le32(e + 8), le32(e + 12), err, errlen);
	}
	return r;
}

/* The GPT header at lba, checked: 1 good (hdr filled), 0 not one, or -errno of the read. */
static int gpt_header(const struct dsrc *disk, uint64_t lba, uint8_t hdr[DISKBOOT_SECTOR], char *why, size_t whylen)
{
	int r = dsrc_read(disk, lba * DISKBOOT_SECTOR, hdr, DISKBOOT_SECTOR);
	if (r < 0)
		return error_set(why, whylen, r, "cannot read sector %llu: %s", (unsigned long long)lba, strerror(-r));
	if (memcmp(hdr, "EFI PART", 8))
		return error_set(why, whylen, 0, "no GPT header at sector %llu", (unsigned long long)lba);
	uint32_t hsize = le32(hdr + 12);
	if (hsize < GPT_HEADER_MIN || hsize > DISKBOOT_SECTOR)
		return error_set(why, whylen, 0, "GPT header at sector %llu: size %u", (unsigned long long)lba, hsize);
	uint32_t want = le32(hdr + 16);
	uint8_t copy[DISKBOOT_SECTOR];
	memcpy(copy, hdr, hsize);
	memset(copy + 16, 0, 4);
	uint32_t got = crc32_fast(0, copy, hsize);
	if (got != want)
		return error_set(why, whylen, 0, "GPT header at sector %llu: CRC %08x, not the %08x it records",
				 (unsigned long long)lba, got, want);
	if (le64(hdr + 24) != lba)
		return error_set(why, whylen, 0, "GPT header at sector %llu says it is at sector %llu",
				 (unsigned long long)lba, (unsigned long long)le64(hdr + 24));
	return 1;
}

static int read_gpt(const struct dsrc *disk, struct dpart_list *l, char *err, size_t errlen)
{
	uint8_t hdr[DISKBOOT_SECTOR];
	char why[160] = "", why2[160] = "";
	uint64_t last = disk->size / DISKBOOT_SECTOR - 1;
	int r = gpt_header(disk, 1, hdr, why, sizeof(why));
	if (r == 0) /* the backup at the disk's last sector */
		r = gpt_header(disk, last, hdr, why2, sizeof(why2));
	if (r <= 0)
		return error_set(err, errlen, r < 0 ? r : -EINVAL, "gpt: %s%s%s", why, why2[0] ? "; backup: " : "", why2);
	l->table = PART_GPT;
	uint64_t entries = le64(hdr + 72);
	uint32_t count = le32(hdr + 80), esize = le32(hdr + 84);
	if (esize < GPT_ENTRY_MIN || esize > GPT_ENTRY_MAX || esize % GPT_ENTRY_MIN)
		return error_set(err, errlen, -EINVAL, "gpt: entries of %u bytes (128 to 4096, a multiple of 128)", esize);
	if (count > DISKBOOT_MAX_PARTS)
		return error_set(err, errlen, -EINVAL, "gpt: %u entries (petrel reads at most %d)", count,
				 DISKBOOT_MAX_PARTS);
	size_t len = (size_t)count * esize;
	_cleanup_free_ uint8_t *buf = malloc(len ? len : 1);
	if (!buf)
		return error_oom(err, errlen);
	if (entries > last || (r = dsrc_read(disk, entries * DISKBOOT_SECTOR, buf, len)) < 0)
		return error_set(err, errlen, entries > last ? -EINVAL : r, "gpt: cannot read %u entries at sector %llu%s",
				 count, (unsigned long long)entries, entries > last ? ": beyond the disk's end" : "");
	uint32_t got = crc32_fast(0, buf, len);
	if (got != le32(hdr + 88))
		return error_set(err, errlen, -EINVAL, "gpt: the entries' CRC is %08x, not the %08x the header records",
				 got, le32(hdr + 88));
	static const uint8_t unused[16];
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *e = buf + (size_t)i * esize;
		if (!memcmp(e, unused, 16))
			continue;
		uint64_t first = le64(e + 32), end = le64(e + 40);
		if (end < first)
			return error_set(err, errlen, -EINVAL, "gpt partition %u: ends (sector %llu) before it starts (%llu)",
					 i + 1, (unsigned long long)end, (unsigned long long)first);
		if ((r = add(l, i + 1, first, end - first + 1, disk->size, err, errlen)) < 0)
			return r;
		memcpy(l->p[l->n - 1].type_guid, e, 16);
		memcpy(l->p[l->n - 1].guid, e + 16, 16);
	}
	return 0;
}

int partitions_read(const struct dsrc *disk, struct dpart_list *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	uint8_t s[DISKBOOT_SECTOR];
	int r;
	if (disk->size < 2 * DISKBOOT_SECTOR)
		return error_set(err, errlen, -EINVAL, "the disk is %llu bytes: too small to boot from",
				 (unsigned long long)disk->size);
	if ((r = dsrc_read(disk, 0, s, sizeof(s))) < 0)
		return error_set(err, errlen, r, "cannot read the disk's first sector: %s", strerror(-r));
	bool sig = s[510] == 0x55 && s[511] == 0xaa;
	/* a FAT file system's boot sector has the signature too, and code where the table would be */
	bool fat = (s[0] == 0xeb || s[0] == 0xe9) && (!memcmp(s + 54, "FAT", 3) || !memcmp(s + 82, "FAT", 3));
	bool valid = sig && !fat;
	bool protective = false;
	for (unsigned i = 0; valid && i < 4; i++) {
		const uint8_t *e = s + 446 + 16 * i;
		valid = e[0] == 0 || e[0] == 0x80; /* the boot flag: anything else is no table */
		protective |= e[4] == 0xee;
	}
	if (valid && protective)
		return read_gpt(disk, out, err, errlen);
	if (valid)
		return read_mbr(disk, s, out, err, errlen);
	out->table = PART_NONE;
	out->n = 1;
	out->p[0] = (struct dpart){ .num = 0, .start = 0, .size = disk->size };
	return 0;
}
