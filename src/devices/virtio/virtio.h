/* The transport-agnostic virtio device (virtio 1.x, modern only).
 *
 * A device (blk, rng, net, vsock, ...) embeds a struct virtio_dev, fills in its ops and calls
 * virtio_dev_init. A transport (virtio_pci.c, virtio_mmio.c) owns the register layout and the
 * interrupt mechanism; it calls the virtio_* functions below for the common registers (feature
 * selection, status, queue setup) with dev->lock held, and the core calls back into the
 * transport (struct virtio_transport_ops) to raise interrupts and to learn when queue
 * notifications move.
 *
 * Threads: register accesses arrive on vCPU threads; queue notifications (ioeventfds) and
 * backend completions run on the VM's I/O thread. Everything touching a device's state holds
 * dev->lock. ops->queue_notify and the device's own completion handlers run on the I/O
 * thread with dev->lock held.
 *
 * Guest-visible state is struct virtio_state (common part) plus the device's own *_state:
 * snapshots serialize those and nothing else.
 */
#ifndef PETREL_DEVICES_VIRTIO_VIRTIO_H
#define PETREL_DEVICES_VIRTIO_VIRTIO_H

#include "devices/virtio/virtq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct io_thread;

#define VIRTIO_MAX_QUEUES 36   /* virtio-console: 2 per port, 17 ports, and its 2 control queues */
#define VIRTIO_NO_VECTOR 0xffff

/* Device status (2.1) */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved feature bits (6) */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_BIT(b) (1ull << (b))

/* Device IDs (5) */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4
#define VIRTIO_ID_VSOCK 19

/* ISR bits (virtio-pci ISR status, virtio-mmio InterruptStatus) */
#define VIRTIO_ISR_QUEUE 0x1
#define VIRTIO_ISR_CONFIG 0x2

/* The part of a device's guest-visible state every virtio device has. */
struct virtio_state {
	uint8_t status;
	uint8_t isr;                 /* pending interrupt causes (INTx / MMIO) */
	uint32_t config_generation;
	uint32_t device_feature_sel;
	uint32_t driver_feature_sel;
	uint64_t driver_features;    /* what the driver acknowledged */
	uint16_t queue_sel;
	uint16_t config_msix_vector; /* virtio-pci */
	struct virtq_state queues[VIRTIO_MAX_QUEUES];
};

struct virtio_dev;

struct virtio_dev_ops {
	/* Device-specific configuration space (offset from its start; off+len <= config_len). */
	void (*config_read)(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len);
	void (*config_write)(struct virtio_dev *d, uint32_t off, const uint8_t *data, uint32_t len);
	/* DRIVER_OK was set: features are final, ready queues are enabled. <0 marks the device
	 * NEEDS_RESET. Optional. */
	int (*activate)(struct virtio_dev *d);
	/* The driver reset the device: finish or drop in-flight work (nothing may touch guest
	 * memory for this device afterwards). Optional. */
	void (*reset)(struct virtio_dev *d);
	/* The VM is pausing (for a snapshot, say): finish in-flight work so its completions are in
	 * the guest's rings, and give back chains popped but not used (virtq_unpop), so the queue
	 * positions alone describe the device. Called with dev->lock held while the I/O thread is
	 * paused. Optional. */
	void (*quiesce)(struct virtio_dev *d);
	/* The driver notified queue q (on the I/O thread). Only called while DRIVER_OK is set,
	 * NEEDS_RESET is not, and the queue is enabled. */
	void (*queue_notify)(struct virtio_dev *d, unsigned q);
	/* Free the device's own resources (after the I/O thread stopped). Optional. */
	void (*destroy)(struct virtio_dev *d);
	/* The device's own saved state beyond the common one (devices/dev_state.h; its dev is
	 * the struct virtio_dev). Loaded before the transport's section restores the common state
	 * and activates the device. NULL: the common state is all (rng). */
	const struct dev_state_ops *state;
	/* After a load: the common state and the transport's are back; tell the driver what the
	 * restore could not bring back (vsock: the host's connections). Optional. */
	void (*restored)(struct virtio_dev *d);
};

/* What the core needs from the transport. */
struct virtio_transport_ops {
	/* Raise the interrupt for queue q, or for a configuration change when q < 0. */
	void (*interrupt)(void *opaque, int q);
};

struct virtio_dev {
	char name[32];               /* "virtio-blk0", for messages */
	uint32_t device_id;
	uint64_t host_features;      /* offered; VERSION_1 always */
	unsigned nqueues;
	uint32_t config_len;
	const struct virtio_dev_ops *ops;

	struct virtio_state st;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	struct io_thread *io;
	int notify_fd[VIRTIO_MAX_QUEUES];  /* eventfds the transport binds to ioeventfds */

	const struct virtio_transport_ops *tr;
	void *tr_opaque;
	bool needs_reset_logged;
	unsigned needs_reset_count;        /* times the device broke (logs stop at a few) */
	uint64_t notifies, interrupts;     /* statistics */
};

/* Set up the common part. queue_size: QueueNumMax of every queue (a power of two). Creates one
 * eventfd per queue and watches it on the I/O thread. */
int virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id, uint64_t features,
		    unsigned nqueues, uint16_t queue_size, uint32_t config_len,
		    const struct virtio_dev_ops *ops, const struct guest_mem *mem, struct io_thread *io);
/* Stop watching the eventfds, call ops->destroy, close everything. */
void virtio_dev_destroy(struct virtio_dev *d);
void virtio_dev_set_transport(struct virtio_dev *d, const struct virtio_transport_ops *tr, void *opaque);

/* ---- for transports, with d->lock held ---- */
uint32_t virtio_get_device_features(struct virtio_dev *d);        /* the word at device_feature_sel */
void virtio_set_driver_features(struct virtio_dev *d, uint32_t v); /* the word at driver_feature_sel */
void virtio_set_status(struct virtio_dev *d, uint8_t status);
/* ops->quiesce under the device lock (see there); from a thread other than the I/O thread,
 * while it is paused. */
void virtio_quiesce(struct virtio_dev *d);
/* Load saved common state into a device created the same way (same features offered, queue
 * count and sizes; saved_features is what the saved device offered). Checks it all first,
 * then enables the ready queues (their rings must lie in guest RAM) and, if the driver had
 * the device running, activates it and looks at every queue once. 0, or -EINVAL and why. */
int virtio_restore(struct virtio_dev *d, const struct virtio_state *st, uint64_t saved_features,
		   char *err, size_t errlen);
/* ---- saved state: the common part, written by the transport into its section (VIRT) ----
 * transport: VIRTIO_SAVED_PCI or _MMIO. put takes d->lock. get reads it into *st and
 * *saved_features (what the saved device offered), and refuses another device id or
 * transport in this device's place or another queue count (-EINVAL and why); the end of the
 * input is the transport's to check (dec_end). */
#define VIRTIO_SAVED_PCI 0
#define VIRTIO_SAVED_MMIO 1
struct enc;
struct dec;
void virtio_state_put(struct enc *e, struct virtio_dev *d, uint8_t transport);
int virtio_state_get(struct dec *dc, struct virtio_dev *d, uint8_t transport, struct virtio_state *st,
		     uint64_t *saved_features, char *err, size_t errlen);
/* The transport's state is back too: ops->restored. */
void virtio_restored(struct virtio_dev *d);
/* Reset to the power-on state (ops->reset first). */
void virtio_reset(struct virtio_dev *d);
/* Currently selected queue's state, or NULL if queue_sel is out of range. */
struct virtq_state *virtio_selected_queue(struct virtio_dev *d);
/* The driver wrote queue_enable / QueueReady. Bad ring addresses mark the device NEEDS_RESET. */
void virtio_queue_set_ready(struct virtio_dev *d, unsigned q, bool ready);
/* Whether queue registers may be written now (queue not yet enabled, driver not running). */
bool virtio_queue_writable(struct virtio_dev *d, unsigned q);
void virtio_config_access(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len, bool write);

/* A notification that reached user space instead of an ioeventfd: hand it to the I/O thread.
 * Safe without the lock. */
void virtio_queue_kick(struct virtio_dev *d, unsigned q);

/* ---- for devices ---- */
bool virtio_has_feature(const struct virtio_dev *d, unsigned bit); /* negotiated */
/* After pushing used buffers on queue q: interrupt the driver if it wants one. */
void virtio_queue_interrupt(struct virtio_dev *d, unsigned q);
/* The device configuration changed: bump the generation and interrupt. */
void virtio_config_changed(struct virtio_dev *d);
/* The device cannot go on (malformed ring, backend failure): set NEEDS_RESET, stop using the
 * queues until the driver resets it, tell the driver. Logs `why` once per reset cycle. */
void virtio_set_needs_reset(struct virtio_dev *d, const char *why);
bool virtio_is_running(const struct virtio_dev *d); /* DRIVER_OK and not NEEDS_RESET */
/* Pop the next chain of queue q; a malformed chain marks the device NEEDS_RESET and returns 0. */
int virtio_queue_pop(struct virtio_dev *d, unsigned q, struct virtq_chain *c);

/* The one queue-serving loop (with d->lock held, on the I/O thread): pop chains of queue q
 * into c while the device runs, hand each to s->chain, and when the ring is empty ask for a
 * notification and look once more (a chain the driver added meanwhile is not missed); then
 * interrupt the driver if anything was pushed (returned too).
 *
 * s->chain returns VIRTIO_SERVE_PUSHED if it put a chain in the used ring, | VIRTIO_SERVE_STOP
 * to stop serving now (a limiter is empty or the back end is full: it gave the chain back with
 * virtq_unpop, and its timer or fd serves the queue again), | VIRTIO_SERVE_FLUSH to have
 * s->flush answer what it gathered before the next pop (a batch is full).
 *
 * s->budget: chains at most (0: no limit); at the limit, or when a callback returns
 * VIRTIO_SERVE_YIELD, the rest is left to another turn of the I/O thread (virtio_queue_kick),
 * so one busy queue cannot hold the others up.
 *
 * Receive queues (the device fills the driver's buffers): s->has_data says whether the device
 * has anything for the driver; buffers are popped only while it does. When the driver has no
 * buffer left and notifications are on, *s->waiting is set: the device waits for the driver's
 * kick (which clears it) rather than polling.
 *
 * Devices that answer chains together (pmem: one fdatasync for a batch of flushes) gather
 * them in s->chain and answer in s->flush, called each time the pops stop (ring empty, batch
 * full, device stopped) before the notification is asked for; it returns the same flags. */
#define VIRTIO_SERVE_PUSHED 1
#define VIRTIO_SERVE_STOP 2
#define VIRTIO_SERVE_FLUSH 4
#define VIRTIO_SERVE_YIELD 8
typedef int (*virtio_chain_fn)(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx);
struct virtio_server {
	virtio_chain_fn chain;
	void *ctx;                         /* handed to every callback */
	unsigned budget;
	bool (*has_data)(void *ctx);       /* receive queues; NULL: serve what the driver queued */
	bool *waiting;                     /* receive queues: set when out of buffers; may be NULL */
	int (*flush)(struct virtio_dev *d, unsigned q, void *ctx); /* may be NULL */
};
bool virtio_serve(struct virtio_dev *d, unsigned q, struct virtq_chain *c, const struct virtio_server *s);
/* The common case: every chain on its own, no receive side, no batches. */
void virtio_serve_queue(struct virtio_dev *d, unsigned q, struct virtq_chain *c, unsigned budget,
			virtio_chain_fn fn, void *ctx);

#endif
