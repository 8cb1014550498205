/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_common.h - a tiny virtio 1.x driver for the test guests: PCI config mechanism #1,
 * virtio-pci capabilities, virtio-mmio registers, split virtqueues in guest memory.
 * Everything here may run in ring 3 (port I/O and MMIO are allowed there).
 */
#ifndef PETREL_GUEST_VIRTIO_COMMON_H
#define PETREL_GUEST_VIRTIO_COMMON_H

#include "guest.h"

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_RNG 4

#define VS_ACK 0x01
#define VS_DRIVER 0x02
#define VS_DRIVER_OK 0x04
#define VS_FEATURES_OK 0x08
#define VS_NEEDS_RESET 0x40

#define VF_INDIRECT (1ull << 28)
#define VF_EVENT_IDX (1ull << 29)
#define VF_VERSION_1 (1ull << 32)

#define VD_NEXT 1
#define VD_WRITE 2
#define VD_INDIRECT 4

#define VMMIO_BASE 0xd0000000ul
#define VMMIO_STRIDE 0x1000ul

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vdev {
	bool mmio;
	uint32_t device_id;
	/* PCI */
	unsigned slot;
	uintptr_t common, isr, devcfg, notify, msix_table;
	uint32_t notify_mult;
	uint8_t msix_cap;
	/* MMIO */
	uintptr_t base;
};

#define VQ_MAX 256
struct vq {
	struct vdev *dev;
	unsigned index;
	uint16_t size;
	struct vring_desc *desc;
	volatile uint16_t *avail;   /* flags, idx, ring[size], used_event */
	volatile uint8_t *used;     /* flags(2), idx(2), ring[size] x 8, avail_event */
	uint16_t avail_idx;         /* next avail index we publish */
	uint16_t last_used;
	uintptr_t notify_addr;
	uint16_t next_desc;         /* simple ring allocator for descriptors */
};

/* Ring memory for one queue of up to VQ_MAX entries: desc 16*N, avail 6+2N, used 6+8N. */
struct vq_mem {
	struct vring_desc desc[VQ_MAX] __attribute__((aligned(4096)));
	uint16_t avail[VQ_MAX + 3] __attribute__((aligned(4096)));
	uint8_t used[6 + 8 * VQ_MAX] __attribute__((aligned(4096)));
};

/* PCI config mechanism #1 */
uint32_t pci_cfg_read32(unsigned slot, unsigned off);
uint16_t pci_cfg_read16(unsigned slot, unsigned off);
uint8_t pci_cfg_read8(unsigned slot, unsigned off);
void pci_cfg_write32(unsigned slot, unsigned off, uint32_t v);
void pci_cfg_write16(unsigned slot, unsigned off, uint16_t v);

/* Find the nth (0-based) device with this virtio id. */
bool vpci_find(uint32_t device_id, unsigned nth, struct vdev *d);
bool vmmio_find(uint32_t device_id, unsigned nth, struct vdev *d);
/* The first device with this id on virtio-mmio (mmio) or PCI. */
bool vdev_find(uint32_t device_id, bool mmio, struct vdev *d);
/* The same on the transport the command line names (transport=mmio, else PCI); fails the
 * test when there is none. Returns whether it is virtio-mmio. */
bool vdev_find_on_cmdline_transport(uint32_t device_id, struct vdev *d);

void vdev_reset(struct vdev *d);
/* NEEDS_RESET is set (a hostile driver broke the device); wait up to `seconds` for it. */
bool vdev_broken(struct vdev *d);
bool vdev_wait_broken(struct vdev *d, int seconds);
uint8_t vdev_status(struct vdev *d);
void vdev_set_status(struct vdev *d, uint8_t s);
uint64_t vdev_features(struct vdev *d);
void vdev_set_driver_features(struct vdev *d, uint64_t f);
/* reset, ACK, DRIVER, negotiate (want & offered), FEATURES_OK; false if refused. */
bool vdev_negotiate(struct vdev *d, uint64_t want, uint64_t *got);
uint32_t vdev_cfg_read(struct vdev *d, unsigned off, unsigned len);
uint16_t vdev_queue_max(struct vdev *d, unsigned q);
/* Program queue q with ring memory m and size; msix_vector (PCI) or 0xffff. */
bool vq_setup(struct vdev *d, struct vq *vq, unsigned q, struct vq_mem *m, uint16_t size, uint16_t msix_vector);
/* Program raw ring addresses (for hostile tests). */
void vq_setup_raw(struct vdev *d, unsigned q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used, bool enable);
void vdev_driver_ok(struct vdev *d);
/* PCI: MSI-X table entry v -> LAPIC vector `vector` on APIC id 0, unmasked; enable MSI-X. */
void vdev_msix_setup(struct vdev *d, unsigned v, uint8_t vector);
void vdev_set_config_vector(struct vdev *d, uint16_t v);
/* Read ISR (PCI) / InterruptStatus (MMIO, acknowledged). */
uint8_t vdev_isr(struct vdev *d);

/* Barriers as Linux's virtio drivers have them on x86 (weak barriers): x86 keeps loads in
 * order with loads and stores with stores, so the used index before its entries and the ring's
 * entries before the avail index need only the compiler held back; a store followed by a load
 * of another place (the avail index, then the device's avail_event) needs a full barrier, and
 * Linux's smp_mb is a locked add, cheaper than mfence. (These guests once had mfence after
 * every used element: it drained the store buffer each time, so every refill waited for the
 * cache lines the device's thread held: virtio_blkbench's refill took 150 ns a request with
 * it, 29 ns without, on a PVM host.) */
#define virt_rmb() __asm__ __volatile__("" ::: "memory")
#define virt_wmb() __asm__ __volatile__("" ::: "memory")
#define virt_mb() __asm__ __volatile__("lock; addl $0,-4(%%rsp)" ::: "memory", "cc")

/* Publish a chain starting at descriptor `head` (caller filled vq->desc). */
void vq_publish(struct vq *vq, uint16_t head);
/* Publish every chain put in the avail ring since its index was `old` (with EVENT_IDX) and
 * notify only if the device's avail_event lies among them; true if it notified. */
bool vq_publish_since(struct vq *vq, uint16_t old);
void vq_kick(struct vq *vq);
/* Add a chain of n buffers (addr, len, write flags) using fresh descriptors; returns head. */
struct vbuf {
	const void *addr;
	uint32_t len;
	bool write;
};
uint16_t vq_add(struct vq *vq, const struct vbuf *b, unsigned n);
/* True if a used element is ready; pops it. */
bool vq_poll(struct vq *vq, uint32_t *id, uint32_t *len);
/* Spin (ring 3 please) until a used element arrives, at most `seconds`. */
bool vq_wait(struct vq *vq, uint32_t *id, uint32_t *len, int seconds);
uint16_t vq_used_idx(struct vq *vq);

/* Shared by the blk guests */
struct blk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};
#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8
#define BLK_T_DISCARD 11
#define BLK_T_WRITE_ZEROES 13
#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSUPP 2
#define BLK_F_RO (1ull << 5)
#define BLK_F_FLUSH (1ull << 9)
#define BLK_F_DISCARD (1ull << 13)
#define BLK_F_WRITE_ZEROES (1ull << 14)

/* The test pattern: byte at absolute disk offset o. The host test writes the same. */
static inline uint8_t disk_pattern(uint64_t o)
{
	return (uint8_t)((o * 7) ^ (o >> 9) ^ 0x5a);
}

#endif
