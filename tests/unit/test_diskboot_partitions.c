/* Unit tests for a boot disk's partition tables (src/diskboot/partitions.c): MBR primaries,
 * extended and logical partitions, GPT with its CRCs and its backup header, a bare file system,
 * and crafted tables (beyond the disk, a logical chain that loops, bad CRCs, too many entries). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diskboot/partitions.h"
#include "util/crc32.h"
#include "unit.h"

#define SECTORS 4096
static uint8_t disk[SECTORS * 512];

static void le32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static void le64(uint8_t *p, uint64_t v) { le32(p, (uint32_t)v); le32(p + 4, (uint32_t)(v >> 32)); }

static void mbr_entry(uint8_t *sector, int slot, uint8_t type, uint32_t start, uint32_t count)
{
	uint8_t *e = sector + 446 + 16 * slot;
	e[4] = type;
	le32(e + 8, start);
	le32(e + 12, count);
	sector[510] = 0x55;
	sector[511] = 0xaa;
}

static int read_table(struct dpart_list *l, char *err, size_t errlen)
{
	static struct dsrc_mem m;
	struct dsrc s = dsrc_of_mem(&m, disk, sizeof(disk));
	return partitions_read(&s, l, err, errlen);
}

static struct dpart_list list;

TEST(mbr_primary_and_logical)
{
	char err[256] = "";
	memset(disk, 0, sizeof(disk));
	le32(disk + 440, 0x70657472);
	mbr_entry(disk, 0, 0x83, 2048, 100);
	mbr_entry(disk, 1, 0x05, 2200, 1000);          /* extended: EBRs at 2200 and 2500 */
	mbr_entry(disk + 2200 * 512, 0, 0x83, 10, 50);  /* logical 5: 2210 */
	mbr_entry(disk + 2200 * 512, 1, 0x05, 300, 200);
	mbr_entry(disk + 2500 * 512, 0, 0x82, 20, 30);  /* logical 6: 2520 */
	CHECK_EQ(read_table(&list, err, sizeof(err)), 0);
	CHECK_STR_EQ(err, "");
	CHECK_EQ(list.table, PART_MBR);
	REQUIRE_EQ(list.n, 4);
	CHECK_EQ(list.p[0].num, 1);
	CHECK_EQ(list.p[0].start, 2048 * 512);
	CHECK_EQ(list.p[1].num, 2);
	CHECK_EQ(list.p[2].num, 5);
	CHECK_EQ(list.p[2].start, 2210 * 512);
	CHECK_EQ(list.p[3].num, 6);
	CHECK_EQ(list.p[3].start, 2520ull * 512);
	CHECK_EQ(list.p[3].size, 30 * 512);
	char u[40];
	part_uuid(&list, &list.p[2], u);
	CHECK_STR_EQ(u, "70657472-05");
}

TEST(mbr_refused)
{
	char err[256];
	memset(disk, 0, sizeof(disk));
	mbr_entry(disk, 0, 0x83, 2048, SECTORS);
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "msdos partition 1: sectors 2048+4096 lie beyond the disk's end (4096 sectors)");
	memset(disk, 0, sizeof(disk));
	mbr_entry(disk, 0, 0x0f, 2000, 1000);
	mbr_entry(disk + 2000 * 512, 1, 0x05, 500, 10);
	mbr_entry(disk + 2500 * 512, 1, 0x05, 500, 10); /* links to itself */
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "links to sector 2500, not further inside the extended partition (a loop?)");
	memset(disk, 0, sizeof(disk));
	mbr_entry(disk, 0, 0x05, 2000, 1000);
	mbr_entry(disk + 2000 * 512, 0, 0x83, 900, 200); /* a logical partition outside its extended one */
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "outside its extended partition");
}

TEST(bare_file_system)
{
	char err[256];
	memset(disk, 0, sizeof(disk));
	CHECK_EQ(read_table(&list, err, sizeof(err)), 0);
	CHECK_EQ(list.table, PART_NONE);
	REQUIRE_EQ(list.n, 1);
	CHECK_EQ(list.p[0].num, 0);
	CHECK_EQ(list.p[0].size, sizeof(disk));
	/* a FAT boot sector has the MBR's signature, and code where the table would be */
	disk[0] = 0xeb;
	memcpy(disk + 82, "FAT32   ", 8);
	disk[446] = 0x12;
	disk[510] = 0x55;
	disk[511] = 0xaa;
	CHECK_EQ(read_table(&list, err, sizeof(err)), 0);
	CHECK_EQ(list.table, PART_NONE);
}

static void gpt_header(uint64_t lba, uint64_t alt, uint64_t entries, uint32_t count)
{
	uint8_t *h = disk + lba * 512, *e = entries < SECTORS ? disk + entries * 512 : NULL;
	memset(h, 0, 512);
	memcpy(h, "EFI PART", 8);
	le32(h + 8, 0x10000);
	le32(h + 12, 92);
	le64(h + 24, lba);
	le64(h + 32, alt);
	le64(h + 40, 34);
	le64(h + 48, SECTORS - 34);
	le64(h + 72, entries);
	le32(h + 80, count);
	le32(h + 84, 128);
	if (entries < SECTORS)
		le32(h + 88, crc32_fast(0, e, (size_t)count * 128));
	le32(h + 16, crc32_fast(0, h, 92));
}

static void gpt_disk(void)
{
	memset(disk, 0, sizeof(disk));
	mbr_entry(disk, 0, 0xee, 1, SECTORS - 1);
	uint8_t *e = disk + 2 * 512;
	for (int i = 0; i < 2; i++) {
		memset(e + 128 * i, 0x11 * (i + 1), 16);        /* type */
		for (int k = 0; k < 16; k++)
			e[128 * i + 16 + k] = (uint8_t)(k + i);  /* the partition's GUID */
		le64(e + 128 * i + 32, 100 + 1000 * (uint64_t)i);
		le64(e + 128 * i + 40, 199 + 1000 * (uint64_t)i);
	}
	memcpy(disk + (SECTORS - 33) * 512, e, 32 * 512); /* the backup's entries */
	gpt_header(1, SECTORS - 1, 2, 128);
	gpt_header(SECTORS - 1, 1, SECTORS - 33, 128);
}

TEST(gpt)
{
	char err[256] = "";
	gpt_disk();
	CHECK_EQ(read_table(&list, err, sizeof(err)), 0);
	CHECK_STR_EQ(err, "");
	CHECK_EQ(list.table, PART_GPT);
	REQUIRE_EQ(list.n, 2);
	CHECK_EQ(list.p[1].num, 2);
	CHECK_EQ(list.p[1].start, 1100 * 512);
	CHECK_EQ(list.p[1].size, 100 * 512);
	char u[40];
	part_uuid(&list, &list.p[0], u);
	CHECK_STR_EQ(u, "03020100-0504-0706-0809-0a0b0c0d0e0f");
	/* a damaged primary header: the backup is read */
	disk[512 + 20] ^= 1;
	CHECK_EQ(read_table(&list, err, sizeof(err)), 0);
	CHECK_EQ(list.n, 2);
	/* both damaged: refused, saying why */
	disk[(SECTORS - 1) * 512 + 20] ^= 1;
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "GPT header at sector 1: CRC");
	CHECK_CONTAINS(err, "backup: GPT header at sector 4095: CRC");
}

TEST(gpt_refused)
{
	char err[256];
	gpt_disk();
	disk[2 * 512 + 40] ^= 1; /* an entry changed: the entries' CRC */
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "gpt: the entries' CRC is");
	gpt_disk();
	le64(disk + 2 * 512 + 40, 50); /* ends before it starts */
	gpt_header(1, SECTORS - 1, 2, 128);
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "gpt partition 1: ends (sector 50) before it starts (100)");
	gpt_disk();
	le64(disk + 2 * 512 + 40, 1ull << 40); /* beyond the disk */
	gpt_header(1, SECTORS - 1, 2, 128);
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "lie beyond the disk's end");
	gpt_disk();
	gpt_header(1, SECTORS - 1, 2, 4096); /* more entries than petrel reads */
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "gpt: 4096 entries (petrel reads at most 128)");
	gpt_disk();
	gpt_header(1, SECTORS - 1, 1ull << 40, 128); /* entries beyond the disk */
	CHECK_EQ(read_table(&list, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "beyond the disk's end");
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
