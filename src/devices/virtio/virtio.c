/* Transport-agnostic virtio device core: features, status, reset, queues, interrupts. */
#include "devices/virtio/virtio.h"
#include "util/codec.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

static void reset_state(struct virtio_dev *d)
{
	uint16_t sizes[VIRTIO_MAX_QUEUES];
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		sizes[i] = d->st.queues[i].max_size;
	uint32_t gen = d->st.config_generation;
	memset(&d->st, 0, sizeof(d->st));
	d->st.config_generation = gen;
	d->st.config_msix_vector = VIRTIO_NO_VECTOR;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		struct virtq_state *q = &d->st.queues[i];
		q->max_size = sizes[i];
		q->size = sizes[i];
		q->msix_vector = VIRTIO_NO_VECTOR;
		virtq_disable(&d->vq[i]);
	}
	d->needs_reset_logged = false;
}

/* A queue's notify eventfd (KVM's ioeventfd, or virtio_queue_kick) is watched edge-triggered
 * and never read: one system call less per I/O-thread wakeup and queue (bench/blk_host.py's
 * "syscalls per request"). Why no notification is lost:
 * - every eventfd signal (KVM's eventfd_signal, a write) wakes the fd's waiters, whatever the
 *   counter holds, and epoll queues the fd as ready again once its last readiness was taken by
 *   epoll_wait; so a notification that comes after epoll_wait returned the fd makes it return
 *   it once more, and one that comes before is covered by the queue_notify that follows;
 * - the driver publishes its requests (avail index) before it notifies, and the eventfd's and
 *   epoll's locks order that before epoll_wait's return and the device's read of the ring;
 * - the device takes everything available at each call (or arms its own retry: polling, the
 *   rate limiter's timer), so an edge is never needed twice; a call without new requests
 *   costs a look at the avail index;
 * - a batch the I/O thread took from epoll but did not run because a pause came first is
 *   run after the resume for edge-triggered fds (util/io_thread.c), as level-triggered ones
 *   are reported again;
 * - the counter saturates (KVM) or would take 2^64 - 1 writes to fill (virtio_queue_kick). */
#define NOTIFY_EVENTS (0x001u /* EPOLLIN */ | (1u << 31) /* EPOLLET */)

static void notify_ready(void *opaque, int fd, uint32_t events)
{
	(void)events;
	struct virtio_dev *d = opaque;
	unsigned q;
	for (q = 0; q < d->nqueues; q++)
		if (d->notify_fd[q] == fd)
			break;
	if (q == d->nqueues)
		return;
	pthread_mutex_lock(&d->lock);
	d->notifies++;
	if (virtio_is_running(d) && virtq_is_enabled(&d->vq[q]) && d->ops->queue_notify)
		d->ops->queue_notify(d, q);
	pthread_mutex_unlock(&d->lock);
}

int virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id, uint64_t features,
		    unsigned nqueues, uint16_t queue_size, uint32_t config_len,
		    const struct virtio_dev_ops *ops, const struct guest_mem *mem, struct io_thread *io)
{
	memset(d, 0, sizeof(*d));
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->notify_fd[i] = -1;
	if (nqueues == 0 || nqueues > VIRTIO_MAX_QUEUES || !queue_size ||
	    (queue_size & (queue_size - 1)) || queue_size > VIRTQ_MAX_SIZE)
		return -EINVAL;
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->device_id = device_id;
	d->host_features = features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	d->nqueues = nqueues;
	d->config_len = config_len;
	d->ops = ops;
	d->mem = mem;
	d->io = io;
	pthread_mutex_init(&d->lock, NULL);
	for (unsigned i = 0; i < nqueues; i++)
		d->st.queues[i].max_size = queue_size;
	reset_state(d);
	for (unsigned i = 0; i < nqueues; i++) {
		d->notify_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (d->notify_fd[i] < 0)
			return -errno;
		if (io) {
			int err = io_thread_add(io, d->notify_fd[i], NOTIFY_EVENTS, notify_ready, d);
			if (err < 0)
				return err;
		}
	}
	return 0;
}

void virtio_dev_destroy(struct virtio_dev *d)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		if (d->notify_fd[i] < 0)
			continue;
		if (d->io)
			io_thread_remove(d->io, d->notify_fd[i]);
		close(d->notify_fd[i]);
		d->notify_fd[i] = -1;
	}
	if (d->ops && d->ops->destroy)
		d->ops->destroy(d);
	d->ops = NULL;
}

void virtio_dev_set_transport(struct virtio_dev *d, const struct virtio_transport_ops *tr, void *opaque)
{
	d->tr = tr;
	d->tr_opaque = opaque;
}

uint32_t virtio_get_device_features(struct virtio_dev *d)
{
	switch (d->st.device_feature_sel) {
	case 0: return (uint32_t)d->host_features;
	case 1: return (uint32_t)(d->host_features >> 32);
	default: return 0;
	}
}

void virtio_set_driver_features(struct virtio_dev *d, uint32_t v)
{
	/* Features are frozen once FEATURES_OK is set. */
	if (d->st.status & VIRTIO_STATUS_FEATURES_OK)
		return;
	switch (d->st.driver_feature_sel) {
	case 0:
		d->st.driver_features = (d->st.driver_features & ~0xffffffffull) | v;
		break;
	case 1:
		d->st.driver_features = (d->st.driver_features & 0xffffffffull) | ((uint64_t)v << 32);
		break;
	default:
		break; /* no features there: writes ignored */
	}
}

bool virtio_has_feature(const struct virtio_dev *d, unsigned bit)
{
	return bit < 64 && (d->st.driver_features & VIRTIO_BIT(bit));
}

bool virtio_is_running(const struct virtio_dev *d)
{
	return (d->st.status & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_NEEDS_RESET)) == VIRTIO_STATUS_DRIVER_OK;
}

void virtio_quiesce(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->ops->quiesce)
		d->ops->quiesce(d);
	pthread_mutex_unlock(&d->lock);
}

/* A "ready" of 2 was enabled and still writable by the driver, its size changeable under the
 * checked rings: every flag is checked before any is used. */
static bool queue_flags_ok(const struct virtq_state *s)
{
	return saved_bool_ok(&s->ready) && saved_bool_ok(&s->signalled_valid) && saved_bool_ok(&s->event_idx) &&
	       saved_bool_ok(&s->indirect);
}

static int check_state(const struct virtio_dev *d, const struct virtio_state *st, uint64_t saved_features,
		       char *err, size_t errlen)
{
	if (saved_features != d->host_features)
		return error_set(err, errlen, -EINVAL, "%s: saved device offered features %#llx, this one offers %#llx",
			 d->name, (unsigned long long)saved_features, (unsigned long long)d->host_features);
	if (st->driver_features & ~d->host_features)
		return error_set(err, errlen, -EINVAL, "%s: saved driver features %#llx were never offered", d->name,
			 (unsigned long long)st->driver_features);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		const struct virtq_state *s = &st->queues[q];
		if (!queue_flags_ok(s))
			return error_set(err, errlen, -EINVAL, "%s: saved queue %u has a flag that is neither 0 nor 1", d->name, q);
		if (q >= d->nqueues) {
			if (s->ready)
				return error_set(err, errlen, -EINVAL, "%s: saved queue %u is ready, the device has %u queues",
					 d->name, q, d->nqueues);
			continue;
		}
		if (s->max_size != d->st.queues[q].max_size || (s->ready && (!s->size || s->size > s->max_size ||
									     (s->size & (s->size - 1)))))
			return error_set(err, errlen, -EINVAL, "%s: saved queue %u has size %u of %u (this device: %u)", d->name,
				 q, s->size, s->max_size, d->st.queues[q].max_size);
	}
	return 0;
}

int virtio_restore(struct virtio_dev *d, const struct virtio_state *st, uint64_t saved_features,
		   char *err, size_t errlen)
{
	pthread_mutex_lock(&d->lock);
	int e = check_state(d, st, saved_features, err, errlen);
	if (e < 0) {
		pthread_mutex_unlock(&d->lock);
		return e;
	}
	d->st = *st;
	for (unsigned q = 0; q < d->nqueues && !e; q++) {
		virtq_disable(&d->vq[q]);
		if (d->st.queues[q].ready && virtq_enable(&d->vq[q], &d->st.queues[q], d->mem) < 0)
			e = error_set(err, errlen, -EINVAL, "%s: saved queue %u has rings outside guest memory", d->name, q);
	}
	if (!e && virtio_is_running(d)) {
		if (d->ops->activate && d->ops->activate(d) < 0)
			virtio_set_needs_reset(d, "activation after restore failed");
		for (unsigned q = 0; q < d->nqueues; q++)
			if (virtq_is_enabled(&d->vq[q]))
				virtio_queue_kick(d, q);
	}
	if (e)
		reset_state(d);
	pthread_mutex_unlock(&d->lock);
	return e;
}

void virtio_reset(struct virtio_dev *d)
{
	if (d->ops->reset)
		d->ops->reset(d);
	reset_state(d);
}

void virtio_set_status(struct virtio_dev *d, uint8_t v)
{
	uint8_t old = d->st.status;
	if (v == 0) {
		virtio_reset(d);
		return;
	}
	/* The driver cannot set NEEDS_RESET, nor clear it except by resetting. */
	v = (uint8_t)((v & ~VIRTIO_STATUS_NEEDS_RESET) | (old & VIRTIO_STATUS_NEEDS_RESET));
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = d->st.driver_features;
		/* Modern only: VERSION_1 is required; nothing we did not offer. */
		if ((f & ~d->host_features) || !(f & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
			log_limited(LOG_WARN, "%s: driver accepted features 0x%llx (offered 0x%llx): refusing FEATURES_OK",
				 d->name, (unsigned long long)f, (unsigned long long)d->host_features);
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		}
	}
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		/* DRIVER_OK without FEATURES_OK: a driver bug; do not start. */
		v &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	}
	d->st.status = v;
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		if (d->ops->activate && d->ops->activate(d) < 0)
			virtio_set_needs_reset(d, "activation failed");
		/* Work the driver queued before DRIVER_OK: look at every queue once. */
		for (unsigned q = 0; q < d->nqueues; q++)
			if (virtq_is_enabled(&d->vq[q]))
				virtio_queue_kick(d, q);
	}
}

struct virtq_state *virtio_selected_queue(struct virtio_dev *d)
{
	return d->st.queue_sel < d->nqueues ? &d->st.queues[d->st.queue_sel] : NULL;
}

bool virtio_queue_writable(struct virtio_dev *d, unsigned q)
{
	return q < d->nqueues && !d->st.queues[q].ready;
}

void virtio_queue_set_ready(struct virtio_dev *d, unsigned q, bool ready)
{
	if (q >= d->nqueues)
		return;
	struct virtq_state *st = &d->st.queues[q];
	if (!ready) {
		/* virtio 1.x has no way to disable a single queue short of a reset; ignore. */
		return;
	}
	if (st->ready)
		return;
	st->event_idx = virtio_has_feature(d, VIRTIO_F_EVENT_IDX);
	st->indirect = virtio_has_feature(d, VIRTIO_F_INDIRECT_DESC);
	st->last_avail_idx = 0;
	st->used_idx = 0;
	st->signalled_valid = false;
	int err = virtq_enable(&d->vq[q], st, d->mem);
	if (err < 0) {
		char why[128];
		snprintf(why, sizeof(why), "queue %u: %s (size %u, desc 0x%llx, avail 0x%llx, used 0x%llx)", q,
			 err == -EINVAL ? "bad size" : "ring outside guest memory", st->size,
			 (unsigned long long)st->desc_gpa, (unsigned long long)st->avail_gpa,
			 (unsigned long long)st->used_gpa);
		st->ready = true; /* what the driver wrote reads back; the device is broken anyway */
		virtio_set_needs_reset(d, why);
		return;
	}
	st->ready = true;
	if (virtio_is_running(d))
		virtio_queue_kick(d, q);
}

void virtio_config_access(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len, bool write)
{
	if (off > d->config_len || len > d->config_len - off) {
		if (!write)
			memset(data, 0, len);
		return;
	}
	if (write) {
		if (d->ops->config_write)
			d->ops->config_write(d, off, data, len);
	} else if (d->ops->config_read) {
		d->ops->config_read(d, off, data, len);
	} else {
		memset(data, 0, len);
	}
}

void virtio_queue_kick(struct virtio_dev *d, unsigned q)
{
	if (q >= d->nqueues || d->notify_fd[q] < 0)
		return;
	uint64_t one = 1;
	if (write(d->notify_fd[q], &one, sizeof(one)) < 0)
		log_warn("%s: cannot signal queue %u: %s", d->name, q, strerror(errno));
}

void virtio_queue_interrupt(struct virtio_dev *d, unsigned q)
{
	if (q >= d->nqueues || !virtq_should_notify(&d->vq[q]))
		return;
	d->interrupts++;
	if (d->tr && d->tr->interrupt)
		d->tr->interrupt(d->tr_opaque, (int)q);
}

void virtio_config_changed(struct virtio_dev *d)
{
	d->st.config_generation++;
	if ((d->st.status & VIRTIO_STATUS_DRIVER_OK) && d->tr && d->tr->interrupt)
		d->tr->interrupt(d->tr_opaque, -1);
}

void virtio_set_needs_reset(struct virtio_dev *d, const char *why)
{
	if (!d->needs_reset_logged) {
		/* A hostile guest can break and reset a device in a loop: say it a few times. */
		d->needs_reset_count++;
		if (d->needs_reset_count <= 5)
			log_warn("%s: device needs reset: %s%s", d->name, why,
				 d->needs_reset_count == 5 ? " (further ones are logged at Debug level)" : "");
		else
			log_debug("%s: device needs reset: %s", d->name, why);
		d->needs_reset_logged = true;
	}
	if (d->st.status & VIRTIO_STATUS_NEEDS_RESET)
		return;
	d->st.status |= VIRTIO_STATUS_NEEDS_RESET;
	if (d->st.status & VIRTIO_STATUS_DRIVER_OK)
		virtio_config_changed(d);
}

int virtio_queue_pop(struct virtio_dev *d, unsigned q, struct virtq_chain *c)
{
	enum virtq_error e;
	int r = virtq_pop(&d->vq[q], c, &e);
	if (r < 0) {
		char why[128];
		snprintf(why, sizeof(why), "queue %u: %s", q, virtq_error_name(e));
		virtio_set_needs_reset(d, why);
		return 0;
	}
	return r;
}

bool virtio_serve(struct virtio_dev *d, unsigned q, struct virtq_chain *c, const struct virtio_server *s)
{
	bool any = false;
	unsigned left = s->budget;
	for (;;) {
		bool empty = false; /* the driver had no chain left */
		int r = 0;
		while (!(r & (VIRTIO_SERVE_STOP | VIRTIO_SERVE_FLUSH)) && virtio_is_running(d) &&
		       (!s->has_data || s->has_data(s->ctx))) {
			if (s->budget && !left) {
				r = VIRTIO_SERVE_YIELD;
				break;
			}
			if (virtio_queue_pop(d, q, c) <= 0) {
				empty = true;
				break;
			}
			left--;
			r = s->chain(d, q, c, s->ctx);
			any |= (r & VIRTIO_SERVE_PUSHED) != 0;
		}
		if (s->flush) {
			int f = s->flush(d, q, s->ctx);
			any |= (f & VIRTIO_SERVE_PUSHED) != 0;
			r |= f & (VIRTIO_SERVE_STOP | VIRTIO_SERVE_YIELD);
		}
		if (r & VIRTIO_SERVE_STOP)
			break;
		if (r & VIRTIO_SERVE_YIELD) {
			virtio_queue_kick(d, q); /* the rest after the others had a turn */
			break;
		}
		if (r & VIRTIO_SERVE_FLUSH)
			continue; /* a full batch answered: on with the next */
		if (!empty)
			break; /* the device stopped, or has nothing more for the driver */
		if (virtio_is_running(d) && virtq_enable_notify(&d->vq[q]))
			continue;
		if (s->waiting)
			*s->waiting = true;
		break;
	}
	if (any)
		virtio_queue_interrupt(d, q);
	return any;
}

void virtio_serve_queue(struct virtio_dev *d, unsigned q, struct virtq_chain *c, unsigned budget,
			virtio_chain_fn fn, void *ctx)
{
	struct virtio_server s = { .chain = fn, .ctx = ctx, .budget = budget };
	virtio_serve(d, q, c, &s);
}

/* ---- saved state: the common part (docs/snapshots.md, section VIRT) ---- */

static void virtq_state_put(struct enc *e, const struct virtq_state *q)
{
	put_u16(e, q->max_size);
	put_u16(e, q->size);
	put_bool(e, q->ready);
	put_u64(e, q->desc_gpa);
	put_u64(e, q->avail_gpa);
	put_u64(e, q->used_gpa);
	put_u16(e, q->last_avail_idx);
	put_u16(e, q->used_idx);
	put_u16(e, q->signalled_used);
	put_bool(e, q->signalled_valid);
	put_bool(e, q->event_idx);
	put_bool(e, q->indirect);
	put_u16(e, q->msix_vector);
}

static void virtq_state_get(struct dec *d, struct virtq_state *q)
{
	q->max_size = get_u16(d);
	q->size = get_u16(d);
	q->ready = get_bool(d);
	q->desc_gpa = get_u64(d);
	q->avail_gpa = get_u64(d);
	q->used_gpa = get_u64(d);
	q->last_avail_idx = get_u16(d);
	q->used_idx = get_u16(d);
	q->signalled_used = get_u16(d);
	q->signalled_valid = get_bool(d);
	q->event_idx = get_bool(d);
	q->indirect = get_bool(d);
	q->msix_vector = get_u16(d);
}

void virtio_state_put(struct enc *e, struct virtio_dev *d, uint8_t transport)
{
	pthread_mutex_lock(&d->lock);
	const struct virtio_state *st = &d->st;
	put_u32(e, d->device_id);
	put_u8(e, transport);
	put_u64(e, d->host_features);
	put_u8(e, st->status);
	put_u8(e, st->isr);
	put_u32(e, st->config_generation);
	put_u32(e, st->device_feature_sel);
	put_u32(e, st->driver_feature_sel);
	put_u64(e, st->driver_features);
	put_u16(e, st->queue_sel);
	put_u16(e, st->config_msix_vector);
	put_u8(e, (uint8_t)d->nqueues);
	for (unsigned q = 0; q < d->nqueues; q++)
		virtq_state_put(e, &st->queues[q]);
	pthread_mutex_unlock(&d->lock);
}

int virtio_state_get(struct dec *dc, struct virtio_dev *d, uint8_t transport, struct virtio_state *st,
		     uint64_t *saved_features, char *err, size_t errlen)
{
	uint32_t id = get_u32(dc);
	uint8_t tr = get_u8(dc);
	if (!dc->err && (id != d->device_id || tr != transport))
		return error_set(err, errlen, -EINVAL, "%s: the snapshot has virtio device %u (%s) in its place", d->name, id,
			 tr == VIRTIO_SAVED_MMIO ? "MMIO" : tr == VIRTIO_SAVED_PCI ? "PCI" : "unknown transport");
	pthread_mutex_lock(&d->lock);
	*st = d->st; /* the queues past nqueues stay as they are: the device has none there */
	pthread_mutex_unlock(&d->lock);
	*saved_features = get_u64(dc);
	st->status = get_u8(dc);
	st->isr = get_u8(dc);
	st->config_generation = get_u32(dc);
	st->device_feature_sel = get_u32(dc);
	st->driver_feature_sel = get_u32(dc);
	st->driver_features = get_u64(dc);
	st->queue_sel = get_u16(dc);
	st->config_msix_vector = get_u16(dc);
	unsigned nq = get_u8(dc);
	if (!dc->err && nq != d->nqueues)
		return error_set(err, errlen, -EINVAL, "%s: the snapshot's device has %u queues, this one %u", d->name, nq, d->nqueues);
	for (unsigned q = 0; q < d->nqueues; q++)
		virtq_state_get(dc, &st->queues[q]);
	return 0;
}

void virtio_restored(struct virtio_dev *d)
{
	if (d->ops->restored)
		d->ops->restored(d);
}
