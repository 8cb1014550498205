#include "devices/virtio/rng.h"
#include "devices/dev_stats.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/util.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static struct virtio_rng *to_rng(struct virtio_dev *d)
{
	return (struct virtio_rng *)((char *)d - offsetof(struct virtio_rng, vdev));
}

/* Fill up to `len` bytes of one iovec; returns the bytes written. */
static size_t fill(void *p, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = getrandom((uint8_t *)p + done, len - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		done += (size_t)n;
	}
	return done;
}

/* One request: random bytes into its writable buffers. */
static int rng_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_rng *r = ctx;
	/* The rate limiter pays for the bytes asked (at most 64 KiB, as below). */
	if (rate_limiter_active(&r->rl) &&
	    (r->rl.blocked || !rate_limiter_consume(&r->rl, MIN(c->in_len, 65536u), now_ns()))) {
		virtq_unpop(&d->vq[q], 1); /* back into the ring: the timer calls us again */
		return VIRTIO_SERVE_STOP;
	}
	uint64_t total = 0;
	/* Cap each request at 64 KiB: a guest cannot make us spend long on one. */
	for (unsigned i = 0; i < c->n_in && total < 65536; i++) {
		struct iovec *v = &c->iov[c->n_out + i];
		size_t want = v->iov_len < 65536 - total ? v->iov_len : (size_t)(65536 - total);
		size_t got = fill(v->iov_base, want);
		total += got;
		if (got < want)
			break;
	}
	stat_add(&r->bytes, total);
	virtq_push(&d->vq[q], c->head, (uint32_t)total);
	return VIRTIO_SERVE_PUSHED;
}

static void rng_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_rng *r = to_rng(d);
	virtio_serve_queue(d, q, &r->chain, 0, rng_chain, r);
}

static void rng_limiter_timer(void *opaque, int fd, uint32_t events)
{
	struct virtio_rng *r = opaque;
	struct virtio_dev *d = &r->vdev;
	pthread_mutex_lock(&d->lock);
	rate_limiter_timer_event(&r->rl);
	if (virtio_is_running(d) && virtq_is_enabled(&d->vq[0]))
		rng_queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
}

static void rng_destroy(struct virtio_dev *d)
{
	struct virtio_rng *r = to_rng(d);
	if (r->rl.timer_fd >= 0 && d->io)
		io_thread_remove(d->io, r->rl.timer_fd);
	rate_limiter_destroy(&r->rl);
}

static const struct virtio_dev_ops rng_ops = {
	.queue_notify = rng_queue_notify,
	.destroy = rng_destroy,
};

int virtio_rng_create(struct virtio_rng *r, unsigned index, const struct rate_limiter_config *rl,
		      const struct guest_mem *mem, struct io_thread *io)
{
	memset(r, 0, sizeof(*r));
	r->rl.timer_fd = -1;
	char name[32];
	snprintf(name, sizeof(name), "virtio-rng%u", index);
	int err = rate_limiter_init(&r->rl, rl, now_ns());
	if (err < 0)
		return err;
	err = virtio_dev_init(&r->vdev, name, VIRTIO_ID_RNG,
			      VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 1,
			      VIRTIO_RNG_QUEUE_SIZE, 0, &rng_ops, mem, io);
	if (err == 0 && io && r->rl.timer_fd >= 0)
		err = io_thread_add_in(io, r->rl.timer_fd, rng_limiter_timer, r);
	if (err < 0)
		virtio_dev_destroy(&r->vdev);
	return err;
}

/* Firecracker's EntropyDeviceMetrics: the bytes handed to the guest ("entropy"). */
static const char *const counter_names[] = { "entropy_bytes" };

static void read_counters(void *dev, uint64_t *v)
{
	v[0] = stat_read(&((const struct virtio_rng *)dev)->bytes);
}

const struct dev_stats_ops virtio_rng_stats_ops = {
	.group = "entropy", .n = 1, .names = counter_names, .read = read_counters,
};
