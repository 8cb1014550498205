/* The driver side of a virtio device, for the unit tests, fuzzers and host-side benchmarks
 * that drive petrel's devices without KVM: guest RAM is the caller's buffer, queue q's rings
 * sit at base + 0x3000 q (descriptors, available ring and used ring one page apart). */
#ifndef PETREL_TESTS_FAKE_DRIVER_H
#define PETREL_TESTS_FAKE_DRIVER_H

#include "devices/virtio/virtio.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t fake_driver_desc(uint64_t base, unsigned q)
{
	return base + 0x3000ull * q;
}

/* What a driver does before the device runs: accept `features`, set up queues 0..nq-1 of
 * `size` entries, say DRIVER_OK. */
static inline void fake_driver_start(struct virtio_dev *d, uint64_t features, unsigned nq, uint64_t base,
				     uint16_t size)
{
	d->st.driver_feature_sel = 0;
	virtio_set_driver_features(d, (uint32_t)features);
	d->st.driver_feature_sel = 1;
	virtio_set_driver_features(d, (uint32_t)(features >> 32));
	virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < nq; q++) {
		struct virtq_state *st = &d->st.queues[q];
		st->size = size;
		st->desc_gpa = fake_driver_desc(base, q);
		st->avail_gpa = fake_driver_desc(base, q) + 0x1000;
		st->used_gpa = fake_driver_desc(base, q) + 0x2000;
		virtio_queue_set_ready(d, q, true);
	}
	virtio_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			     VIRTIO_STATUS_DRIVER_OK);
}

/* A queue notification as the I/O thread delivers it: only to a running device's enabled
 * queue, with the device's lock held. */
static inline void fake_driver_notify(struct virtio_dev *d, unsigned q)
{
	pthread_mutex_lock(&d->lock);
	if (q < d->nqueues && virtio_is_running(d) && virtq_is_enabled(&d->vq[q]))
		d->ops->queue_notify(d, q);
	pthread_mutex_unlock(&d->lock);
}

/* Put head in queue q's available ring (ram: guest RAM, rings as fake_driver_desc places them,
 * size entries) and notify the queue. */
static inline void fake_driver_publish(struct virtio_dev *d, uint8_t *ram, uint64_t base, uint16_t size, unsigned q,
				       uint16_t head)
{
	uint16_t *a = (uint16_t *)(ram + fake_driver_desc(base, q) + 0x1000);
	a[2 + a[1] % size] = head;
	a[1]++;
	fake_driver_notify(d, q);
}

/* The driver resets the device and sets it up again with every feature offered: its rings
 * cleared, then fake_driver_start. */
static inline void fake_driver_restart(struct virtio_dev *v, uint8_t *ram, uint64_t base, uint16_t size)
{
	pthread_mutex_lock(&v->lock);
	virtio_set_status(v, 0);
	for (unsigned q = 0; q < v->nqueues; q++)
		memset(ram + fake_driver_desc(base, q), 0, 0x3000);
	fake_driver_start(v, v->host_features, v->nqueues, base, size);
	pthread_mutex_unlock(&v->lock);
}

#endif
