/* Guest-physical space for device memory above RAM (virtio-pmem images, virtio-mem's
 * hot-pluggable RAM): ranges handed out in configuration order, so a VM built again from the
 * same configuration (a snapshot load, a migration's destination) gets the same layout, and
 * KVM memory-slot numbers past the ones guest RAM uses. Not in the e820 map: each device tells
 * the guest its own range. */
#ifndef PETREL_MEMORY_DEVMEM_H
#define PETREL_MEMORY_DEVMEM_H

#include <stdint.h>

#include "memory/guest_mem.h"

#define DEVMEM_SLOT_FIRST GUEST_MEM_MAX_REGIONS /* slots [0, 4) are RAM's */
#define DEVMEM_MAX_SLOTS  32
#define DEVMEM_ALIGN      (1ull << 30)          /* the window starts on a GiB */
#define DEVMEM_LIMIT      (1ull << 40)          /* and ends below 1 TiB (40 physical address
						 * bits: every x86-64 CPU has at least that) */

struct devmem {
	uint64_t base;      /* first byte of the window */
	uint64_t next_gpa;  /* first byte not handed out */
	uint32_t next_slot; /* next KVM slot number */
};

/* The window starts at the first GiB boundary at or above both the end of RAM and 4 GiB. */
void devmem_init(struct devmem *d, uint64_t ram_end);
/* Hand out [*gpa, *gpa + size) aligned to `align` (a power of two, or 0 for 4 KiB) and one
 * KVM slot. -EINVAL for a zero or unaligned size or a bad alignment, -ENOSPC when the window
 * or the slots are used up. */
int devmem_alloc(struct devmem *d, uint64_t size, uint64_t align, uint64_t *gpa, uint32_t *slot);

#endif
