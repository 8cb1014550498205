/* Split virtqueues (virtio 1.x, section 2.7): the device side.
 *
 * Everything in the rings is written by the guest and untrusted. virtq_pop() validates a whole
 * descriptor chain before handing it out: every index below the queue size, every buffer inside
 * guest RAM (guest_mem_ptr), no loops, no chain longer than the queue, device-writable
 * descriptors only after the readable ones, indirect tables well formed (inside RAM, a multiple
 * of 16 bytes, not nested, not mixed with NEXT), total length below 4 GiB. A chain that breaks
 * any rule is not returned: the queue reports it and the device marks itself NEEDS_RESET.
 */
#ifndef PETREL_DEVICES_VIRTIO_VIRTQ_H
#define PETREL_DEVICES_VIRTIO_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct guest_mem;

#define VIRTQ_MAX_SIZE 1024      /* largest queue size any device offers */
#define VIRTQ_MAX_CHAIN 256      /* most descriptors in one chain (direct + indirect) */

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
} __attribute__((packed));

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
} __attribute__((packed));

/* Guest-visible state of one queue: what the driver programmed and where the device is. */
struct virtq_state {
	uint16_t max_size;       /* offered (QueueNumMax), a power of two */
	uint16_t size;           /* chosen by the driver */
	bool ready;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t last_avail_idx; /* next avail ring entry the device will take */
	uint16_t used_idx;       /* next used ring index the device will publish */
	uint16_t signalled_used; /* used_idx at the last interrupt (EVENT_IDX) */
	bool signalled_valid;
	bool event_idx;          /* VIRTIO_RING_F_EVENT_IDX negotiated */
	bool indirect;           /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
	uint16_t msix_vector;    /* virtio-pci: queue_msix_vector */
};

struct virtq {
	struct virtq_state *st;
	const struct guest_mem *mem;
	/* Host pointers into guest RAM, set by virtq_enable (RAM never moves). */
	struct virtq_desc *desc;
	uint16_t *avail;         /* flags, idx, ring[size], used_event */
	uint8_t *used;           /* flags, idx, ring[size] (8 bytes each), avail_event */
};

/* One validated chain: iov[0..n_out) are driver->device (readable), iov[n_out..n_out+n_in)
 * device-writable. */
struct virtq_chain {
	uint16_t head;
	unsigned n_out, n_in;
	uint64_t out_len, in_len;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Why virtq_pop failed (for logs and tests). */
enum virtq_error {
	VIRTQ_OK = 0,
	VIRTQ_ERR_AVAIL_IDX,     /* avail->idx moved more than the queue size */
	VIRTQ_ERR_HEAD,          /* head index >= size */
	VIRTQ_ERR_NEXT,          /* next index >= size */
	VIRTQ_ERR_LOOP,          /* chain longer than the queue (a loop) */
	VIRTQ_ERR_TOO_LONG,      /* more than VIRTQ_MAX_CHAIN descriptors */
	VIRTQ_ERR_ADDR,          /* buffer not inside guest RAM */
	VIRTQ_ERR_ORDER,         /* readable descriptor after a writable one */
	VIRTQ_ERR_INDIRECT,      /* bad indirect table (size, nesting, NEXT, not negotiated) */
	VIRTQ_ERR_LEN,           /* total length overflows 32 bits */
};
const char *virtq_error_name(enum virtq_error e);

/* Check the ring addresses/size and set the host pointers. -EINVAL if the size is not a power
 * of two within max_size, -EFAULT if a ring is not in RAM or misaligned. */
int virtq_enable(struct virtq *q, struct virtq_state *st, const struct guest_mem *mem);
void virtq_disable(struct virtq *q);
bool virtq_is_enabled(const struct virtq *q);

/* 1: *c holds the next chain; 0: nothing available; <0 (-EINVAL): malformed, *err says why.
 * On error the queue position is left where it was. */
int virtq_pop(struct virtq *q, struct virtq_chain *c, enum virtq_error *err);
/* True if there are chains to pop (cheap peek). */
bool virtq_has_work(struct virtq *q);
/* Return a chain to the driver with len bytes written. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);
/* Return n chains at once: the driver sees all of them or none (virtio-net's mergeable
 * receive buffers need this). */
void virtq_push_n(struct virtq *q, const struct virtq_used_elem *elems, unsigned n);
/* Give back the last n chains popped and not pushed (e.g. a receive that did not happen):
 * they will be popped again. */
void virtq_unpop(struct virtq *q, uint16_t n);
/* After pushing a batch: whether the driver wants an interrupt (NO_INTERRUPT / used_event).
 * Updates the EVENT_IDX bookkeeping when it returns true. */
bool virtq_should_notify(struct virtq *q);
/* Before going idle: with EVENT_IDX, publish avail_event so the driver notifies for the next
 * buffer; returns true if more work arrived meanwhile (caller should pop again). */
bool virtq_enable_notify(struct virtq *q);

/* Copy helpers over a chain's iovecs: `from`/`to` the readable or writable part, starting at
 * byte `off`. Return bytes copied. */
size_t virtq_chain_read(const struct virtq_chain *c, size_t off, void *buf, size_t len);
size_t virtq_chain_write(const struct virtq_chain *c, size_t off, const void *buf, size_t len);

#endif
