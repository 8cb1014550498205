/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evil.h - shared by the hostile drivers (virtio_*_evil.c): a case that must break the device,
 * and the malformed chains every virtio device must refuse with NEEDS_RESET.
 */
#ifndef PETREL_GUEST_EVIL_H
#define PETREL_GUEST_EVIL_H

#include "virtio_common.h"

#define OUTSIDE_RAM 0x30000000ull   /* 768 MiB: above the tests' RAM, below the MMIO hole */
#define IN_MMIO_HOLE 0xc0000000ull  /* where the PCI BARs are */

struct evil {
	const char *tag;                        /* each case prints "TAG: NAME -> ..." */
	struct vdev *dev;
	struct vq *vq;
	void (*reinit)(void);                   /* negotiate and set the queue up again */
	void (*check_alive)(const char *after); /* one good request must work */
	unsigned cases;
};

/* Descriptor i of the queue's table. */
void evil_set(struct evil *e, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next);
/* Kick the published chain: the device must go NEEDS_RESET without a used buffer, and work
 * again after reinit. */
void evil_expect_broken(struct evil *e, const char *name);
/* The chains every device refuses, each a good device-readable head of 16 bytes at `head`
 * followed by the bad part: a buffer outside RAM, in the MMIO hole, of a huge length; a loop;
 * next and head indices out of range; an avail index jump; indirect tables outside RAM,
 * nested (table: 1 entry, table2: 3 entries of scratch) or not a multiple of 16 bytes. */
void evil_malformed_chains(struct evil *e, void *head, struct vring_desc *table, struct vring_desc *table2);

#endif
