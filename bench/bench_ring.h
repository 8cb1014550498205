/* The driver's side of a split virtqueue, for the host-side benches that drive petrel's virtio
 * devices through their queues on a real I/O thread without KVM (virtio_blk_host.c,
 * virtio_net_host.c): adding and publishing buffers with EVENT_IDX (a notification is an
 * eventfd write on the queue's notify fd, what KVM's ioeventfd does), reading the used ring,
 * and the transport's interrupt as an eventfd write (an irqfd). */
#ifndef PETREL_BENCH_RING_H
#define PETREL_BENCH_RING_H

#include "devices/virtio/virtio.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct bench_ring {
	struct virtq_desc *desc;
	uint16_t *avail;          /* flags, idx, ring[size], used_event */
	uint8_t *used;            /* flags, idx, ring[size], avail_event */
	uint16_t size;            /* a power of two */
	uint16_t avail_idx, last_used, notify_from;
	int notify_fd;
	uint64_t notifies;
};

static inline void bench_ring_add(struct bench_ring *r, uint16_t head)
{
	r->avail[2 + (r->avail_idx & (r->size - 1))] = head;
	r->avail_idx++;
}

/* Publish what was added since the last publish; notify if the device's avail_event lies in it. */
static inline void bench_ring_publish(struct bench_ring *r)
{
	uint16_t old = r->notify_from;
	r->notify_from = r->avail_idx;
	__atomic_store_n(&r->avail[1], r->avail_idx, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint16_t ev = __atomic_load_n((uint16_t *)(r->used + 4 + 8 * r->size), __ATOMIC_RELAXED);
	if ((uint16_t)(r->avail_idx - ev - 1) < (uint16_t)(r->avail_idx - old)) {
		uint64_t one = 1;
		if (write(r->notify_fd, &one, sizeof(one)) < 0)
			abort();
		r->notifies++;
	}
}

/* The next used element, if the device published one. */
static inline bool bench_ring_used(struct bench_ring *r, uint32_t *id, uint32_t *len)
{
	uint16_t idx = __atomic_load_n((uint16_t *)(r->used + 2), __ATOMIC_ACQUIRE);
	if (idx == r->last_used)
		return false;
	uint32_t e[2];
	memcpy(e, r->used + 4 + 8 * (r->last_used & (r->size - 1)), 8);
	*id = e[0];
	*len = e[1];
	r->last_used++;
	return true;
}

/* The used_event the driver asks an interrupt at. */
static inline void bench_ring_used_event(struct bench_ring *r, uint16_t v)
{
	__atomic_store_n(&r->avail[2 + r->size], v, __ATOMIC_RELAXED);
}

/* Whether the device published more than the driver has read. */
static inline bool bench_ring_more(struct bench_ring *r)
{
	return __atomic_load_n((uint16_t *)(r->used + 2), __ATOMIC_ACQUIRE) != r->last_used;
}

/* The transport's interrupt: an eventfd write on bench_irq_fd, as KVM's irqfd. */
static int bench_irq_fd = -1;

static inline void bench_irqfd(void *opaque, int q)
{
	(void)opaque;
	if (q < 0)
		return;
	uint64_t one = 1;
	if (write(bench_irq_fd, &one, sizeof(one)) < 0)
		abort();
}

static const struct virtio_transport_ops bench_transport = { bench_irqfd };

/* A clock (CLOCK_MONOTONIC, a thread's CPU clock) in ns, 0 if it cannot be read. */
static inline uint64_t bench_clock_ns(clockid_t c)
{
	struct timespec ts;
	if (clock_gettime(c, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
