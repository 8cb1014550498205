/* What file system a partition holds, from its magic numbers (no library): ext2/3/4 (which
 * petrel reads, extfs.h) with its UUID and label (GRUB's `search --fs-uuid` and `--label`),
 * and the others by name, so a disk petrel cannot read is refused saying what it holds. */
#ifndef PETREL_DISKBOOT_FSPROBE_H
#define PETREL_DISKBOOT_FSPROBE_H

#include "diskboot/source.h"

#include <stdbool.h>

struct fs_id {
	const char *kind;   /* "ext2", "ext3", "ext4", "vfat", "xfs", "btrfs", ...; NULL: unknown */
	bool ext;           /* one petrel reads */
	char uuid[37];      /* as GRUB and blkid write it ("" when none) */
	char label[65];
};

/* 0 (id filled; kind NULL when nothing is recognised) or -errno of a read. */
int fs_probe(const struct dsrc *part, struct fs_id *id);

#endif
