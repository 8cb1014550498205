/* The I/O thread's busy-poll of a virtio-blk queue once a pass has left it empty: the driver's
 * next requests are then found without a notification (a VM exit and an I/O-thread wakeup,
 * ~20-30 us on a PVM host, longer than a batch of 32 page-cache reads takes), and a request's
 * completion on the disk's ring is answered without a trip through epoll.
 *
 * Fixed: the drive's poll_us, the window every time. Adaptive (poll_us 0, the default, on a
 * host where the process may run on two CPUs or more): the window follows how long the queue
 * stayed idle after the last failed poll, as QEMU's iothread does: it doubles towards
 * BLK_POLL_MAX_NS while new work keeps coming within that, and drops to 0 (no polling, no CPU)
 * as soon as a gap is longer, so an idle or slow guest costs nothing. On one CPU polling never
 * pays: the spinning I/O thread would only keep the vCPU that is to refill the queue off it. */
#ifndef PETREL_DEVICES_VIRTIO_BLK_POLL_H
#define PETREL_DEVICES_VIRTIO_BLK_POLL_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_POLL_MAX_NS 50000u /* above a PVM exit plus a wakeup: what polling saves */
#define BLK_POLL_MIN_NS 4000u  /* the first window after a short gap */

struct virtq;
struct disk;

struct blk_poll {
	uint64_t fixed_ns;    /* the drive's poll_us; 0: adaptive (or none) */
	bool adaptive;
	uint64_t cur_ns;      /* the adaptive window now */
	uint64_t idle_since;  /* when the queue went to sleep (0: it did not) */
	uint64_t polls, hits; /* windows spent, and those that found work (tests, stats) */
};

/* cpus: CPUs the process may run on (blk_poll_cpus()). */
void blk_poll_init(struct blk_poll *p, uint32_t poll_us, unsigned cpus);
unsigned blk_poll_cpus(void);
/* The queue asked for a notification at now (going to sleep). */
void blk_poll_slept(struct blk_poll *p, uint64_t now);
/* A pass starts at now: an adaptive window learns from the time the queue slept. */
void blk_poll_woke(struct blk_poll *p, uint64_t now);
/* Spin up to the window for new requests in vq or completions on disk's ring: true if some
 * came. */
bool blk_poll_wait(struct blk_poll *p, struct virtq *vq, struct disk *disk);

#endif
