/* The driver side of a virtio device, for the unit tests, fuzzers and host-side benchmarks
 * that drive petrel's devices without KVM: guest RAM is the caller's buffer, queue q's rings
 * sit at base + 0x3000 q (descriptors, available ring and used ring one page apart). */
#ifndef PETREL_TESTS_FAKE_DRIVER_H
#define PETREL_TESTS_FAKE_DRIVER_H

#include "devices/virtio/virtio.h"

#include <stdint.h>

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

#endif
