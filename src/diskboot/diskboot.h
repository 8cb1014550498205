/* Direct boot from a VM's disk (docs/images.md#booting-from-the-disk): the kernel, initrd and
 * command line GRUB would boot, found on the disk without running GRUB. Each partition in
 * turn (a bare file system is partition 0): an ext2/3/4 one's /boot/grub/grub.cfg or
 * /grub/grub.cfg (its default entry, grubcfg.h; the kernel may be on another partition its
 * `search` names), else its /vmlinuz and /initrd.img, or /boot/vmlinuz and /boot/initrd.img
 * (Debian's links). Read from petrel's block layer in the VMM (jailed, filtered), at the
 * start and at every guest reset. */
#ifndef PETREL_DISKBOOT_DISKBOOT_H
#define PETREL_DISKBOOT_DISKBOOT_H

#include "diskboot/source.h"

#include <stddef.h>
#include <stdint.h>

#define DISKBOOT_KERNEL_MAX (128u << 20)
#define DISKBOOT_INITRD_MAX (1u << 30)   /* all of an entry's initrds together */

struct diskboot {
	uint8_t *kernel;
	size_t kernel_len;
	uint8_t *initrd;             /* NULL: none; several are concatenated, each 4-byte aligned */
	size_t initrd_len;
	char *cmdline;               /* the entry's (links: root=PARTUUID=... ro console=ttyS0) */
	char what[1024];             /* "partition N (ext4): KERNEL [initrd INITRD] entry 'TITLE'" */
};

/* Find and read the boot on disk: 0, or -errno and why (every partition's reason when none
 * boots). mem_max (the guest's memory; 0: none) lowers the kernel's and the initrds' limits, so
 * a small VM never reads more than it could load. */
int diskboot_find(const struct dsrc *disk, uint64_t mem_max, struct diskboot *out, char *err, size_t errlen);
void diskboot_free(struct diskboot *b);

struct disk;
/* A dsrc_read_fn over petrel's struct disk (ctx), raw or qcow2. */
int diskboot_disk_read(void *ctx, uint64_t off, void *buf, size_t len);

#endif
