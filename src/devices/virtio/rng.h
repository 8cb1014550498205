/* virtio-rng (virtio 1.x section 5.4): fills the driver's buffers from getrandom(2). */
#ifndef PETREL_DEVICES_VIRTIO_RNG_H
#define PETREL_DEVICES_VIRTIO_RNG_H

#include "devices/virtio/virtio.h"
#include "util/rate_limiter.h"

#define VIRTIO_RNG_QUEUE_SIZE 64

/* No state beyond struct virtio_state. */
struct rng_state {
	uint8_t unused;
};

struct virtio_rng {
	struct virtio_dev vdev;
	struct rng_state st;
	struct virtq_chain chain;
	uint64_t bytes;
	struct rate_limiter rl;       /* the entropy device's rate_limiter (bytes handed out) */
};

/* rl: the device's rate limiter configuration (NULL: unlimited). */
int virtio_rng_create(struct virtio_rng *r, unsigned index, const struct rate_limiter_config *rl,
		      const struct guest_mem *mem, struct io_thread *io);

/* Its counter for the metrics ("entropy"). */
struct dev_stats_ops;
extern const struct dev_stats_ops virtio_rng_stats_ops;

#endif
