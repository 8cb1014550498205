/* virtio-vsock: virtqueues <-> the host-side connection mux. See vsock.h. */
#include "devices/virtio/vsock.h"
#include "devices/dev_state.h"
#include "devices/dev_stats.h"
#include "util/error.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#define VIRTIO_VSOCK_F_STREAM 0
#define BUDGET 256   /* packets per direction per wakeup */

static struct virtio_vsock *to_vsock(struct virtio_dev *d)
{
	return (struct virtio_vsock *)((char *)d - offsetof(struct virtio_vsock, vdev));
}

int virtio_vsock_parse_tx(const struct virtq_chain *c, struct vsock_hdr *h, struct iovec *payload, unsigned *niov)
{
	*niov = 0;
	if (c->out_len < VSOCK_HDR_LEN) {
		memset(h, 0, sizeof(*h));
		return -EINVAL;
	}
	/* The header may be split over any number of descriptors. */
	virtq_chain_read(c, 0, h, VSOCK_HDR_LEN);
	if (h->len > c->out_len - VSOCK_HDR_LEN || h->len > VSOCK_MAX_PAYLOAD)
		return -EMSGSIZE;
	*niov = iov_sub(c->iov, c->n_out, VSOCK_HDR_LEN, h->len, payload);
	return 0;
}

static bool vsock_has_rx(void *ctx)
{
	struct virtio_vsock *v = ctx;
	return vsock_mux_has_rx(&v->mux);
}

/* One packet from the mux into the driver's buffer. */
static int vsock_rx_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_vsock *v = ctx;
	struct virtq *vq = &d->vq[q];
	if (c->in_len < VSOCK_HDR_LEN) {
		v->stats.bad_bufs++;
		virtq_push(vq, c->head, 0);
		return VIRTIO_SERVE_PUSHED;
	}
	uint64_t room = c->in_len - VSOCK_HDR_LEN;
	unsigned n = iov_sub(&c->iov[c->n_out], c->n_in, VSOCK_HDR_LEN, room, v->payload);
	struct vsock_hdr h;
	if (!vsock_mux_rx(&v->mux, &h, v->payload, n, room)) {
		virtq_unpop(vq, 1);
		return VIRTIO_SERVE_STOP;
	}
	virtq_chain_write(c, 0, &h, VSOCK_HDR_LEN);
	virtq_push(vq, c->head, VSOCK_HDR_LEN + h.len);
	stat_add(&v->stats.rx_packets, 1);
	return VIRTIO_SERVE_PUSHED;
}

/* Give the guest what the mux has for it; out of buffers, wait for the driver's kick. */
static void vsock_rx(struct virtio_vsock *v)
{
	struct virtio_dev *d = &v->vdev;
	if (v->rx_waiting || !virtio_is_running(d) || !virtq_is_enabled(&d->vq[VIRTIO_VSOCK_RXQ]))
		return;
	struct virtio_server s = { .chain = vsock_rx_chain, .ctx = v, .budget = BUDGET,
				   .has_data = vsock_has_rx, .waiting = &v->rx_waiting };
	virtio_serve(d, VIRTIO_VSOCK_RXQ, &v->chain, &s);
}

/* One packet from the driver to the host's sockets. */
static int vsock_tx_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_vsock *v = ctx;
	struct vsock_hdr h;
	unsigned n;
	int r = virtio_vsock_parse_tx(c, &h, v->payload, &n);
	if (r == -EMSGSIZE) {
		/* Claims more payload than it carries: reset that connection. */
		stat_add(&v->stats.malformed, 1);
		h.op = VSOCK_OP_INVALID;
		h.len = 0;
		vsock_mux_tx(&v->mux, &h, NULL, 0);
	} else if (r < 0) {
		stat_add(&v->stats.malformed, 1); /* not even a header: nobody to answer */
	} else {
		stat_add(&v->stats.tx_packets, 1);
		vsock_mux_tx(&v->mux, &h, v->payload, n);
	}
	virtq_push(&d->vq[q], c->head, 0);
	return VIRTIO_SERVE_PUSHED;
}

static void vsock_tx(struct virtio_vsock *v)
{
	struct virtio_dev *d = &v->vdev;
	if (virtio_is_running(d) && virtq_is_enabled(&d->vq[VIRTIO_VSOCK_TXQ]))
		virtio_serve_queue(d, VIRTIO_VSOCK_TXQ, &v->chain, BUDGET, vsock_tx_chain, v);
}

static void vsock_work(struct virtio_vsock *v, bool tx)
{
	if (tx)
		vsock_tx(v);
	vsock_rx(v);
}

static void vsock_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_vsock *v = to_vsock(d);
	if (q == VIRTIO_VSOCK_RXQ) {
		v->rx_waiting = false;
		vsock_work(v, false);
	} else if (q == VIRTIO_VSOCK_TXQ) {
		vsock_work(v, true);
	}
	/* event queue: its buffers wait for the one event sent, the transport reset after a
	 * restore (virtio_vsock_transport_reset) */
}

/* The mux's epoll set is ready: host sockets, the listener, the timer (I/O thread). */
static void vsock_ready(void *opaque, int fd, uint32_t events)
{
	struct virtio_vsock *v = opaque;
	(void)fd;
	(void)events;
	pthread_mutex_lock(&v->vdev.lock);
	vsock_mux_poll(&v->mux);
	vsock_work(v, false);
	pthread_mutex_unlock(&v->vdev.lock);
}

static void vsock_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_vsock *v = to_vsock(d);
	uint8_t cfg[VIRTIO_VSOCK_CONFIG_LEN];
	memcpy(cfg, &v->st.guest_cid, 8);
	memcpy(data, cfg + off, len);
}

void virtio_vsock_transport_reset(struct virtio_vsock *v)
{
	struct virtio_dev *d = &v->vdev;
	pthread_mutex_lock(&d->lock);
	struct virtq_chain *c = malloc(sizeof(*c));
	if (c && virtio_is_running(d) && virtq_is_enabled(&d->vq[VIRTIO_VSOCK_EVQ]) &&
	    virtio_queue_pop(d, VIRTIO_VSOCK_EVQ, c) > 0) {
		uint8_t ev[4] = { 0 }; /* le32 id: VIRTIO_VSOCK_EVENT_TRANSPORT_RESET */
		size_t n = virtq_chain_write(c, 0, ev, sizeof(ev));
		virtq_push(&d->vq[VIRTIO_VSOCK_EVQ], c->head, (uint32_t)n);
		virtio_queue_interrupt(d, VIRTIO_VSOCK_EVQ);
	}
	free(c);
	pthread_mutex_unlock(&d->lock);
}

static void vsock_reset(struct virtio_dev *d)
{
	struct virtio_vsock *v = to_vsock(d);
	vsock_mux_reset(&v->mux);
	v->rx_waiting = false;
}

static void vsock_destroy(struct virtio_dev *d)
{
	struct virtio_vsock *v = to_vsock(d);
	if (!v->mux_ready)
		return;
	if (d->io)
		io_thread_remove(d->io, vsock_mux_fd(&v->mux));
	const struct vsock_mux_stats *s = &v->mux.stats;
	if (s->conns_host || s->conns_guest)
		log_info("%s: %llu host-initiated and %llu guest-initiated connections (%llu refused), "
			 "%llu bytes to the host, %llu to the guest, %llu resets sent, %llu malformed packets",
			 d->name, (unsigned long long)s->conns_host, (unsigned long long)s->conns_guest,
			 (unsigned long long)s->refused, (unsigned long long)s->bytes_to_host,
			 (unsigned long long)s->bytes_to_guest, (unsigned long long)s->resets_sent,
			 (unsigned long long)(v->stats.malformed + s->bad_packets));
	vsock_mux_destroy(&v->mux);
	v->mux_ready = false;
}

static const struct dev_state_ops vsock_state_ops;

static void vsock_restored(struct virtio_dev *d)
{
	virtio_vsock_transport_reset(to_vsock(d));
}

static const struct virtio_dev_ops vsock_ops = {
	.config_read = vsock_config_read,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
	.destroy = vsock_destroy,
	.state = &vsock_state_ops,
	.restored = vsock_restored,
};

int virtio_vsock_create(struct virtio_vsock *v, const struct virtio_vsock_params *cfg,
			const struct guest_mem *mem, struct io_thread *io)
{
	memset(v, 0, sizeof(*v));
	if (cfg->guest_cid < 3) {
		log_error("vsock: guest_cid %u: CIDs 0-2 are reserved", cfg->guest_cid);
		return -EINVAL;
	}
	int err = virtio_dev_init(&v->vdev, "virtio-vsock0", VIRTIO_ID_VSOCK,
				  VIRTIO_BIT(VIRTIO_VSOCK_F_STREAM) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
				  VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC),
				  3, VIRTIO_VSOCK_QUEUE_SIZE, VIRTIO_VSOCK_CONFIG_LEN, &vsock_ops, mem, io);
	if (err < 0) {
		virtio_dev_destroy(&v->vdev);
		return err;
	}
	v->st.guest_cid = cfg->guest_cid;
	if ((err = vsock_mux_init(&v->mux, cfg->uds_path, cfg->guest_cid)) < 0) {
		virtio_dev_destroy(&v->vdev);
		return err;
	}
	v->mux_ready = true;
	if (io && (err = io_thread_add(io, vsock_mux_fd(&v->mux), EPOLLIN, vsock_ready, v)) < 0) {
		virtio_dev_destroy(&v->vdev); /* destroys the mux too */
		return err;
	}
	log_info("%s: guest CID %u, host socket %s", v->vdev.name, cfg->guest_cid, cfg->uds_path);
	return 0;
}

void virtio_vsock_poll(struct virtio_vsock *v)
{
	vsock_ready(v, vsock_mux_fd(&v->mux), EPOLLIN);
}

void virtio_vsock_gate(struct virtio_vsock *v, bool up)
{
	pthread_mutex_lock(&v->vdev.lock);
	if (v->mux_ready) {
		vsock_mux_gate(&v->mux, up);
		vsock_work(v, false);
	}
	pthread_mutex_unlock(&v->vdev.lock);
}

void virtio_vsock_close_epoch(struct virtio_vsock *v, uint64_t n)
{
	pthread_mutex_lock(&v->vdev.lock);
	if (v->mux_ready)
		vsock_mux_close_epoch(&v->mux, n);
	pthread_mutex_unlock(&v->vdev.lock);
}

void virtio_vsock_release(struct virtio_vsock *v, uint64_t n)
{
	pthread_mutex_lock(&v->vdev.lock);
	if (v->mux_ready) {
		vsock_mux_release(&v->mux, n);
		vsock_work(v, false);
	}
	pthread_mutex_unlock(&v->vdev.lock);
}

uint64_t virtio_vsock_held(struct virtio_vsock *v)
{
	pthread_mutex_lock(&v->vdev.lock);
	uint64_t b = v->mux_ready ? v->mux.held_bytes : 0;
	pthread_mutex_unlock(&v->vdev.lock);
	return b;
}

/* ---- saved state (section VSCK, docs/snapshots.md): the guest's CID, which must be the one
 * configured now ---- */

static void vsock_save_state(void *dev, struct enc *e)
{
	struct virtio_vsock *v = to_vsock(dev);
	pthread_mutex_lock(&v->vdev.lock);
	put_u64(e, v->st.guest_cid);
	pthread_mutex_unlock(&v->vdev.lock);
}

static int vsock_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_vsock *v = to_vsock(dev);
	uint64_t cid = get_u64(d);
	int e = dec_end(d, v->vdev.name, err, errlen);
	if (e == 0 && cid != v->st.guest_cid)
		e = error_set(err, errlen, -EINVAL, "%s: guest CID %llu differs from the snapshot's %llu", v->vdev.name,
			 (unsigned long long)v->st.guest_cid, (unsigned long long)cid);
	return e;
}

static const struct dev_state_ops vsock_state_ops = {
	.id = STATE_ID('V', 'S', 'C', 'K'), .version = 1,
	.save = vsock_save_state, .load = vsock_load_state,
};

/* ---- the metrics' counters (devices/dev_stats.h) ---- */

/* Firecracker's VsockDeviceMetrics: rx is host -> guest, tx guest -> host. */
static const char *const counter_names[] = { "rx_packets_count", "tx_packets_count", "rx_bytes_count",
					     "tx_bytes_count", "conns_added", "conns_killed", "conns_refused",
					     "malformed_packets" };

static void read_counters(void *dev, uint64_t *v)
{
	const struct virtio_vsock *vs = dev;
	const struct virtio_vsock_stats *d = &vs->stats;
	const struct vsock_mux_stats *m = vs->mux_ready ? &vs->mux.stats : NULL;
#define M(f) (m ? stat_read(&m->f) : 0)
	v[0] = stat_read(&d->rx_packets);
	v[1] = stat_read(&d->tx_packets);
	v[2] = M(bytes_to_guest);
	v[3] = M(bytes_to_host);
	v[4] = M(conns_host) + M(conns_guest);
	v[5] = M(resets_sent) + M(resets_got);
	v[6] = M(refused);
	v[7] = stat_read(&d->malformed) + M(bad_packets);
#undef M
}

const struct dev_stats_ops virtio_vsock_stats_ops = {
	.group = "vsock", .n = 8, .names = counter_names, .read = read_counters,
};
