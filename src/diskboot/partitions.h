/* A boot disk's partitions: MBR (primary, extended and logical) or GPT (its header's and
 * entries' CRCs checked, the backup header when the primary is bad). A disk with neither is a
 * bare file system: one partition numbered 0, the whole disk. Numbers are Linux's and GRUB's
 * (msdos1-4 primary, 5 on logical; gptN the N-th entry). Untrusted input: a crafted table is
 * a clear error (tests/fuzz/fuzz_partitions.c). */
#ifndef PETREL_DISKBOOT_PARTITIONS_H
#define PETREL_DISKBOOT_PARTITIONS_H

#include "diskboot/source.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DISKBOOT_SECTOR 512
#define DISKBOOT_MAX_PARTS 128       /* GPT entries read, MBR partitions followed */

enum part_table { PART_NONE, PART_MBR, PART_GPT };

struct dpart {
	unsigned num;                /* 0: the whole disk (no table); else Linux's number */
	uint64_t start, size;        /* bytes */
	uint8_t mbr_type;            /* MBR: the type byte */
	uint8_t type_guid[16];       /* GPT: the type and the partition's own GUID (on-disk order) */
	uint8_t guid[16];
};

struct dpart_list {
	enum part_table table;
	uint32_t mbr_id;             /* MBR: the disk signature (PARTUUID=SSSSSSSS-NN) */
	unsigned n;
	struct dpart p[DISKBOOT_MAX_PARTS];
};

/* The partitions of disk, in table order (logical ones after the primaries): 0, or -EINVAL
 * (-errno of a read) and why. */
int partitions_read(const struct dsrc *disk, struct dpart_list *out, char *err, size_t errlen);
/* "msdos", "gpt" or "none". */
const char *part_table_name(enum part_table t);
/* The kernel's PARTUUID of a partition ("SSSSSSSS-NN" for MBR, the GUID for GPT), "" for 0. */
void part_uuid(const struct dpart_list *l, const struct dpart *p, char out[40]);
/* A 16-byte GUID as it is written ("12345678-9abc-..."; mixed-endian as EFI stores it). */
void guid_format(const uint8_t g[16], char out[37]);

#endif
