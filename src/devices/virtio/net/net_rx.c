/* virtio-net receive: tap frames into the guest's buffers, straight or through a bounce
 * buffer, with mergeable buffers, the receive rate limiter and MMDS's injected frames. See
 * net.h for the design. */
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_int.h"
#include "devices/virtio/net/net_mmds.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/util.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RX_BUDGET 256   /* frames per wakeup before giving the I/O thread back */
/* A frame is read straight into the guest's buffers when they are at most this many pieces;
 * past it the kernel allocates the readv's vector on every call (UIO_FASTIOV) and walks it,
 * and reading into the bounce buffer and copying from there costs less: 1.40 -> 0.98 us of
 * the I/O thread per 60 B frame, 1.80 -> 1.01 us per 1514 B, with 4 KiB buffers and a
 * 64 KiB MTU (bench/virtio_net_host.py on a tap, PVM host, 2026-11-28). */
#define RX_DIRECT_IOV 8

static uint64_t held_capacity(const struct virtio_net *n)
{
	uint64_t cap = 0;
	for (unsigned i = 0; i < n->nheld; i++)
		cap += n->held[i].cap;
	return cap;
}

/* Pop receive chains until the held ones can take `want` bytes (or the ring is empty).
 * Chains without writable space are returned at once (used length 0). Returns true if
 * it pushed any such chain. */
static bool fill_held(struct virtio_net *n, uint64_t want)
{
	struct virtio_dev *d = &n->vdev;
	struct virtq_chain *c = &n->chain;
	bool pushed = false;
	uint64_t cap = held_capacity(n);
	bool mrg = virtio_has_feature(d, VIRTIO_NET_F_MRG_RXBUF);
	/* At most a queue's worth of chains per call: a driver whose rings overlap can make
	 * the ring look endless. */
	for (unsigned tries = d->st.queues[VIRTIO_NET_RXQ].size;
	     tries && n->nheld < VIRTIO_NET_RX_HELD && (mrg ? cap < want : n->nheld == 0); tries--) {
		if (!virtio_is_running(d) || virtio_queue_pop(d, VIRTIO_NET_RXQ, c) <= 0)
			break;
		if (c->n_in == 0 || c->in_len < VIRTIO_NET_HDR_LEN) {
			/* Nothing we can put a frame in (a driver bug or a hostile one). */
			stat_add(&n->stats.rx_bad_bufs, 1);
			virtq_push(&d->vq[VIRTIO_NET_RXQ], c->head, 0);
			pushed = true;
			continue;
		}
		if (n->rx_niov + c->n_in > VIRTIO_NET_RX_IOV) {
			virtq_unpop(&d->vq[VIRTIO_NET_RXQ], 1);
			break;
		}
		struct net_rx_held *h = &n->held[n->nheld++];
		h->head = c->head;
		h->cap = (uint32_t)c->in_len;
		h->iov_first = n->rx_niov;
		h->niov = c->n_in;
		memcpy(&n->rx_iov[n->rx_niov], &c->iov[c->n_out], c->n_in * sizeof(struct iovec));
		n->rx_niov += c->n_in;
		cap += h->cap;
	}
	return pushed;
}

/* Forget the first k held chains (they were pushed). */
void net_drop_held(struct virtio_net *n, unsigned k)
{
	if (k >= n->nheld) {
		n->nheld = 0;
		n->rx_niov = 0;
		return;
	}
	unsigned first_iov = n->held[k].iov_first;
	memmove(&n->held[0], &n->held[k], (n->nheld - k) * sizeof(n->held[0]));
	n->nheld -= k;
	memmove(&n->rx_iov[0], &n->rx_iov[first_iov], (n->rx_niov - first_iov) * sizeof(struct iovec));
	n->rx_niov -= first_iov;
	for (unsigned i = 0; i < n->nheld; i++)
		n->held[i].iov_first -= first_iov;
}

/* How many held chains a frame of len bytes takes (0 if they cannot hold it). */
static unsigned chains_for(const struct virtio_net *n, uint64_t len, bool mrg)
{
	if (!mrg)
		return n->nheld && n->held[0].cap >= len ? 1 : 0;
	uint64_t cap = 0;
	for (unsigned i = 0; i < n->nheld; i++) {
		cap += n->held[i].cap;
		if (cap >= len)
			return i + 1;
	}
	return 0;
}

/* The first k held chains now hold a frame of len bytes (header first): set num_buffers,
 * publish them together. */
static void publish_frame(struct virtio_net *n, unsigned k, uint32_t len)
{
	struct virtq_used_elem used[VIRTIO_NET_RX_HELD];
	uint16_t nb = (uint16_t)k;
	iov_copy_at(&n->rx_iov[n->held[0].iov_first], n->held[0].niov, 10, &nb, sizeof(nb), true);
	uint32_t left = len;
	for (unsigned i = 0; i < k; i++) {
		uint32_t part = left < n->held[i].cap ? left : n->held[i].cap;
		used[i].id = n->held[i].head;
		used[i].len = part;
		left -= part;
	}
	virtq_push_n(&n->vdev.vq[VIRTIO_NET_RXQ], used, k);
	net_drop_held(n, k);
	stat_add(&n->stats.rx_frames, 1);
	stat_add(&n->stats.rx_bytes, len - VIRTIO_NET_HDR_LEN);
}

/* Copy a frame (vnet header first) into held chains. 1: delivered (or dropped for good),
 * 0: not enough buffers yet. */
static int deliver_buf(struct virtio_net *n, uint8_t *buf, uint32_t len, bool mrg)
{
	unsigned k = chains_for(n, len, mrg);
	if (!k) {
		if (!mrg && n->nheld) {
			/* One chain per frame and this one is too small: the frame cannot go. */
			stat_add(&n->stats.rx_dropped, 1);
			return 1;
		}
		return 0;
	}
	uint16_t nb = (uint16_t)k;
	memcpy(buf + 10, &nb, sizeof(nb));
	uint32_t done = 0;
	for (unsigned i = 0; i < k; i++) {
		const struct net_rx_held *h = &n->held[i];
		uint32_t part = len - done < h->cap ? len - done : h->cap;
		uint32_t off = 0;
		for (unsigned j = 0; j < h->niov && off < part; j++) {
			const struct iovec *v = &n->rx_iov[h->iov_first + j];
			size_t m = v->iov_len < part - off ? v->iov_len : part - off;
			if (!m)
				continue; /* empty descriptors have no address */
			memcpy(v->iov_base, buf + done + off, m);
			off += (uint32_t)m;
		}
		done += part;
	}
	publish_frame(n, k, len);
	return 1;
}

static int deliver_bounce(struct virtio_net *n, bool mrg)
{
	int r = deliver_buf(n, n->bounce, n->bounce_len, mrg);
	if (r) {
		n->bounce_len = 0;
		n->bounce_paid = false;
	}
	return r;
}

int virtio_net_inject(struct virtio_net *n, uint8_t *frame, uint32_t len, bool *pushed)
{
	struct virtq *vq = &n->vdev.vq[VIRTIO_NET_RXQ];
	bool mrg = virtio_has_feature(&n->vdev, VIRTIO_NET_F_MRG_RXBUF);
	for (unsigned tries = 0; tries < 2 && rx_usable(n); tries++) {
		*pushed |= fill_held(n, len);
		if (deliver_buf(n, frame, len, mrg)) {
			*pushed = true;
			return 1;
		}
		/* No room: have the driver tell us when it adds buffers (a race is retried once). */
		if (!virtq_enable_notify(vq)) {
			n->rx_waiting = true;
			stat_add(&n->stats.rx_blocked, 1);
			return 0;
		}
	}
	return 0;
}

/* Move frames from the tap to the guest until the tap is empty, the budget is spent or the
 * driver runs out of buffers (then rx_waiting is set). Returns true if it used buffers. */
bool net_rx(struct virtio_net *n)
{
	struct virtio_dev *d = &n->vdev;
	struct virtq *vq = &d->vq[VIRTIO_NET_RXQ];
	bool pushed = false;
	if (!rx_usable(n) || n->rx_waiting)
		return false;
	bool mrg = virtio_has_feature(d, VIRTIO_NET_F_MRG_RXBUF);
	for (unsigned budget = RX_BUDGET; rx_usable(n); budget--) {
		if (!budget) {
			/* More may be waiting (in the tap or the bounce buffer): come back after
			 * others had their turn. */
			virtio_queue_kick(d, VIRTIO_NET_RXQ);
			break;
		}
		if (n->bounce_len) {
			/* rx_rate_limiter: the frame waits here (the tap unread) for the timer */
			if (!n->bounce_paid && rate_limiter_active(&n->rx_rl) &&
			    !(n->bounce_paid = rate_limiter_admit(&n->rx_rl, n->bounce_len - VIRTIO_NET_HDR_LEN, now_ns())))
				break;
			pushed |= fill_held(n, n->bounce_len);
			if (deliver_bounce(n, mrg)) {
				pushed = true;
				continue;
			}
			/* Not enough buffers: make sure the driver tells us when it adds some. */
			if (virtq_enable_notify(vq))
				continue;
			n->rx_waiting = true;
			stat_add(&n->stats.rx_blocked, 1);
			break;
		}
		pushed |= fill_held(n, n->rx_max);
		if (!n->nheld) {
			if (virtq_enable_notify(vq))
				continue;
			n->rx_waiting = true;
			stat_add(&n->stats.rx_blocked, 1);
			break;
		}
		/* A limited interface reads into the bounce buffer, where a frame can wait; so does
		 * one whose largest frame needs more than RX_DIRECT_IOV of the guest's buffers. */
		unsigned niov = mrg ? n->rx_niov : n->held[0].niov;
		bool direct = !rate_limiter_active(&n->rx_rl) && niov <= RX_DIRECT_IOV &&
			      (mrg ? held_capacity(n) >= n->rx_max : n->held[0].cap >= n->rx_max);
		ssize_t r;
		if (direct) {
			r = readv(tap_fd(n), n->rx_iov, (int)niov);
		} else {
			r = read(tap_fd(n), n->bounce, VIRTIO_NET_MAX_FRAME);
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				/* The tap went away or broke: wait for the driver's next buffers rather
				 * than spin on a descriptor that stays readable. */
				if (!stat_read(&n->stats.rx_errors))
					log_warn("%s: reading tap '%s': %s", d->name, n->tap.ifname, strerror(errno));
				stat_add(&n->stats.rx_errors, 1);
				n->rx_waiting = true;
			}
			break;
		}
		if (r < VIRTIO_NET_HDR_LEN) {
			stat_add(&n->stats.rx_dropped, 1);
			continue;
		}
		if (!direct) {
			n->bounce_len = (uint32_t)r;
			continue;
		}
		unsigned k = chains_for(n, (uint64_t)r, mrg);
		if (!k) {
			/* Longer than the buffers: the tap cut it short (its MTU grew). */
			stat_add(&n->stats.rx_dropped, 1);
			continue;
		}
		publish_frame(n, k, (uint32_t)r);
		pushed = true;
	}
	return pushed;
}

