/* virtio-mem (virtio 1.2 section 5.15, device ID 24): a region of guest-physical address space
 * above RAM, split into blocks the guest driver plugs (uses as RAM) and unplugs on request.
 * The host sets requested_size (PATCH /hotplug/memory); the driver sends PLUG, UNPLUG,
 * UNPLUG_ALL and STATE requests on its one queue and the device answers ACK, NACK, BUSY or
 * ERROR and keeps plugged_size.
 *
 * Backing: the whole region is one hot-pluggable region of guest memory (guest_mem.h,
 * guest_mem_add_hotplug), mapped with MAP_NORESERVE and registered in one KVM slot, so
 * snapshots, diff snapshots, dirty logging, migration and replication carry it like RAM and
 * unplugged blocks cost nothing there (they are holes). It is not in the e820 map: the guest
 * learns of it only through this device. Unplugged blocks go back to the host at once
 * (MADV_DONTNEED; a region mapped privately from a snapshot's memory file gets fresh
 * anonymous memory over the block instead, so it reads as zero and not as the file's old
 * bytes). Unlike Firecracker, which maps the region in slot_size_mib KVM slots and removes
 * the slots whose blocks are all unplugged, petrel keeps the whole region mapped: a guest
 * that breaks the protocol and touches unplugged memory reads zeros and makes the host back
 * those pages until they are unplugged again (at most total_size_mib; a cgroup bounds it).
 * slot_size_mib is kept as the step usable_region_size grows by.
 *
 * Everything the guest sends is untrusted: a request is read from the chain's readable part
 * (24 bytes, shorter ones answered ERROR), addr must be block-aligned, nb_blocks above 0 and
 * the whole range inside the usable region (the end computed without overflow), PLUG only of
 * unplugged blocks and not beyond requested_size (NACK), UNPLUG only of plugged blocks. */
#ifndef PETREL_DEVICES_VIRTIO_VIRTIO_MEM_H
#define PETREL_DEVICES_VIRTIO_VIRTIO_MEM_H

#include "devices/virtio/virtio.h"

#define VIRTIO_ID_MEM 24

#define VIRTIO_MEM_F_ACPI_PXM 0
#define VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE 1

enum virtio_mem_req_type {
	VIRTIO_MEM_REQ_PLUG, VIRTIO_MEM_REQ_UNPLUG, VIRTIO_MEM_REQ_UNPLUG_ALL, VIRTIO_MEM_REQ_STATE
};
enum virtio_mem_resp_type {
	VIRTIO_MEM_RESP_ACK, VIRTIO_MEM_RESP_NACK, VIRTIO_MEM_RESP_BUSY, VIRTIO_MEM_RESP_ERROR
};
enum virtio_mem_block_state {
	VIRTIO_MEM_STATE_PLUGGED, VIRTIO_MEM_STATE_UNPLUGGED, VIRTIO_MEM_STATE_MIXED
};

#define VIRTIO_MEM_REQ_LEN 24    /* le16 type, 3 x le16 padding, le64 addr, le16 nb_blocks, padding */
#define VIRTIO_MEM_RESP_LEN 10   /* le16 type, 3 x le16 padding, le16 state */
#define VIRTIO_MEM_CONFIG_LEN 56 /* struct virtio_mem_config */
#define VIRTIO_MEM_QUEUE_SIZE 128

#define VIRTIO_MEM_MIN_BLOCK (2ull << 20)       /* Firecracker's minimum block: 2 MiB */
#define VIRTIO_MEM_MAX_BLOCKS (1u << 20)        /* bitmap bound: 128 KiB */

/* A request as read from the guest (all fields little-endian decoded). */
struct virtio_mem_req {
	uint16_t type;
	uint64_t addr;
	uint16_t nb_blocks;
};

/* The device's geometry (from the configuration and devmem). */
struct virtio_mem_params {
	uint64_t addr;          /* guest-physical start, block-aligned */
	uint64_t region_size;   /* bytes, a multiple of slot_size */
	uint64_t block_size;    /* a power of two >= VIRTIO_MEM_MIN_BLOCK */
	uint64_t slot_size;     /* a multiple of block_size */
};

/* Guest-visible state beyond struct virtio_state: what a snapshot saves (section VMEM, this
 * header followed by the plugged-block bitmap, a bit per block, nblocks rounded up to 64). */
struct virtio_mem_state {
	uint64_t addr, region_size, block_size, slot_size;
	uint64_t usable_region_size, plugged_size, requested_size;
	uint32_t nblocks, reserved;
};

/* Counters, Firecracker's memory_hotplug metrics group (latencies in microseconds). */
struct virtio_mem_latency {
	uint64_t min_us, max_us, sum_us;
};
struct virtio_mem_counters {
	uint64_t queue_event_count, queue_event_fails;
	uint64_t plug_count, plug_bytes, plug_fails;
	uint64_t unplug_count, unplug_bytes, unplug_fails, unplug_discard_fails;
	uint64_t unplug_all_count, unplug_all_fails;
	uint64_t state_count, state_fails;
	uint64_t nack_count, busy_count, bad_requests;
	struct virtio_mem_latency plug_agg, unplug_agg, unplug_all_agg, state_agg;
};

struct virtio_mem {
	struct virtio_dev vdev;
	struct virtio_mem_state st;
	uint64_t *plugged;                   /* bit per block */
	struct virtio_mem_counters ctr;
	struct virtq_chain chain;
	const struct guest_region *region;   /* the hot-pluggable region of guest memory */
};

/* Pure parts, for the fuzzer and the tests: decode a request (at least VIRTIO_MEM_REQ_LEN
 * bytes, else -EINVAL), and whether a range lies in the usable region (0 or -ERANGE). */
int virtio_mem_parse_req(const uint8_t *buf, size_t len, struct virtio_mem_req *out);
int virtio_mem_check_range(const struct virtio_mem_state *st, uint64_t addr, uint64_t nb_blocks);

/* Map the device's region before the device exists (vm.c, right after RAM): size bytes of
 * guest-physical space from dm, aligned to VIRTIO_MEM_REGION_ALIGN (Linux adds hot-plugged
 * memory in memory blocks of 128 MiB on x86) or to block_size if larger (the device's blocks
 * are aligned to their size), as a hot-pluggable region of mem whose bytes
 * follow RAM's in a memory file fd (a snapshot, a migration), else anonymous memory. Its KVM
 * slot is its region index, like RAM's: the slot devmem hands out goes unused. */
#define VIRTIO_MEM_REGION_ALIGN (128ull << 20)
struct devmem;
struct kvm;
int virtio_mem_map_region(struct guest_mem *mem, struct kvm *kvm, struct devmem *dm, uint64_t size,
			  uint64_t block_size, int fd);
/* The region [p->addr, +region_size) must be a hot-pluggable region of mem already. */
int virtio_mem_create(struct virtio_mem *m, const struct virtio_mem_params *p, const struct guest_mem *mem,
		      struct io_thread *io);
/* One request as the queue handler runs it (lock held): the response into resp. */
void virtio_mem_handle_locked(struct virtio_mem *m, const struct virtio_mem_req *req, uint8_t resp[VIRTIO_MEM_RESP_LEN]);

/* ---- for the controller (they take the device lock) ---- */
/* New requested size in bytes: a multiple of block_size, at most region_size (-EINVAL).
 * usable_region_size grows to it (rounded up to slot_size); the driver gets a configuration
 * change interrupt if it is running. */
int virtio_mem_set_requested(struct virtio_mem *m, uint64_t bytes);
/* The machine's reset: every block unplugged (its memory discarded), as QEMU's does; the
 * requested size stays, for the next boot's driver to plug. While a lazy restore still fills
 * guest memory the blocks stay plugged (logged). */
void virtio_mem_unplug_all(struct virtio_mem *m);
/* A copy of the state (without the bitmap) and counters under the lock. */
void virtio_mem_stats(struct virtio_mem *m, struct virtio_mem_state *st, struct virtio_mem_counters *c);

/* ---- snapshots (section VMEM) ---- */
/* The state and bitmap in the section's encoding (malloc'd; lock held). The device's state verbs
 * (struct virtio_dev_ops' state) write and read the same bytes. */
void *virtio_mem_save_locked(struct virtio_mem *m, size_t *len);
/* Check a saved blob against this device (same geometry, sizes consistent with the bitmap,
 * nothing plugged outside the usable region) and apply it. -EINVAL with err set otherwise. */
int virtio_mem_load_state(struct virtio_mem *m, const void *buf, size_t len, char *err, size_t errlen);

#endif
