/* virtio-net transmit batches: the tap frames of one wakeup written with one io_uring_enter
 * (docs/performance.md#virtio-net) instead of one writev each.
 *
 * Ownership stays synchronous: a batch is submitted and every one of its writes has completed
 * before its chains go back to the driver, and a batch never outlives the serving loop
 * (net.c flushes it before a chain that cannot join it, and virtio_serve before it asks for a
 * notification), so pause, snapshot, reset and replication never see a frame in flight.
 *
 * Until the tap first refuses a frame for lack of room, the writes are not linked: each is
 * written in line during the submission, one after the other, in order. (Linked writes cost
 * the kernel a task-work round per frame after the first: on Linux 6.18 the I/O thread spent
 * half its time in io_uring rather than the tap, and 60 B frames went out 1.31x faster
 * unlinked; docs/performance.md#virtio-net-unlinked.) A tap whose send buffer is the
 * kernel's default (INT_MAX) never refuses for room. Once one does, the writes are linked for
 * good, so that the writes after a refused one are cancelled rather than sent ahead of it: a
 * full tap gives the refused frame and those after it back to the ring (they were the last
 * popped) and sets the transmit rate limiter back to what it was after the refused frame, as
 * if the later ones had never been looked at. In the unlinked batch where the tap first
 * refused, a later frame may have been taken (a smaller one, or room made meanwhile): it went
 * ahead of the refused ones, which are then dropped rather than sent out of order (counted as
 * transmit errors). A write the kernel refuses for good (bad vnet header) drops its frame, as
 * before; when linked, the cancelled ones after it are submitted again.
 *
 * A full tap must answer at once, as the non-blocking writev does, but io_uring ignores the
 * file's O_NONBLOCK and waits for room instead. The writes carry RWF_NOWAIT, which makes a full
 * tap answer -EAGAIN inline (Linux 6.18); a tap that does not take the flag (-EOPNOTSUPP:
 * Linux 6.1) gets the writes without it, and a write still in flight when the submission
 * returns (the tap was full) is cancelled and counts as refused. A write that went to an
 * io_uring worker thread instead (it cannot be cancelled while it runs) turns the batches off
 * for good: one writev per frame from then on, said in the log. */
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_int.h"
#include "util/log.h"
#include "util/stat.h"

#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#define NOT_RUN INT_MIN        /* res[] of a frame the ring did not write */
/* user_data of a cancellation. Not UINT64_MAX: liburing takes that for its own timeouts on a
 * kernel without IORING_FEAT_EXT_ARG (before 5.11, e.g. Debian 11's 5.10) and consumes such a
 * completion inside io_uring_peek_cqe/io_uring_wait_cqe, so reap() would wait for ever for the
 * cancellation's, holding the device lock on the I/O thread. */
#define CANCEL_TAG (UINT64_MAX - 1)
_Static_assert(CANCEL_TAG != LIBURING_UDATA_TIMEOUT, "liburing's own user_data");

struct tx_frame {
	uint16_t head;
	uint64_t len;              /* with the vnet header */
	unsigned iov_first, niov;
	bool has_rl;               /* rl: the transmit limiter right after this frame was admitted */
	struct rate_limiter rl;
};

struct net_tx_batch {
	struct io_uring ring;
	bool off;                  /* batches turned off (turn_off says why): writev from now on */
	bool nowait;               /* RWF_NOWAIT (until the tap says it cannot take it) */
	bool linked;               /* writes linked: the tap has refused a frame for room */
	bool batch_linked;         /* the batch in flight was */
	unsigned n, niov;
	struct tx_frame f[NET_TX_BATCH];
	int res[NET_TX_BATCH];
	struct iovec iov[NET_TX_BATCH_IOV];
};

int net_txb_init(struct virtio_net *n)
{
	struct net_tx_batch *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	int r = io_uring_queue_init(NET_TX_BATCH, &b->ring, 0);
	if (r < 0) {
		log_info("%s: io_uring unavailable (%s): one writev per transmitted frame", n->vdev.name,
			 strerror(-r));
		free(b);
		return 0;
	}
	b->nowait = true;
	n->txb = b;
	return 0;
}

void net_txb_destroy(struct virtio_net *n)
{
	if (!n->txb)
		return;
	io_uring_queue_exit(&n->txb->ring);
	free(n->txb);
	n->txb = NULL;
}

struct io_uring *net_txb_ring(struct virtio_net *n)
{
	return n->txb ? &n->txb->ring : NULL;
}

bool virtio_net_tx_nowait(struct virtio_net *n, bool keep)
{
	if (n->txb && !keep)
		n->txb->nowait = false;
	return n->txb && n->txb->nowait;
}

bool net_txb_on(const struct virtio_net *n)
{
	return n->txb && !n->txb->off;
}

bool net_txb_room(const struct virtio_net *n, const struct virtq_chain *c)
{
	const struct net_tx_batch *b = n->txb;
	return b->n < NET_TX_BATCH && b->niov + c->n_out <= NET_TX_BATCH_IOV;
}

int net_txb_add(struct virtio_net *n, const struct virtq_chain *c)
{
	struct net_tx_batch *b = n->txb;
	struct tx_frame *f = &b->f[b->n++];
	f->head = c->head;
	f->len = c->out_len;
	f->iov_first = b->niov;
	f->niov = c->n_out;
	memcpy(&b->iov[b->niov], c->iov, c->n_out * sizeof(struct iovec));
	b->niov += c->n_out;
	f->has_rl = rate_limiter_active(&n->tx_rl);
	if (f->has_rl)
		f->rl = n->tx_rl;
	return b->n == NET_TX_BATCH ? VIRTIO_SERVE_FLUSH : 0;
}

static void turn_off(struct virtio_net *n, const char *why)
{
	n->txb->off = true;
	log_info("%s: %s: one writev per transmitted frame from now on", n->vdev.name, why);
}

/* Reap the completions there are (wait: until `want` in all); res[] gets each frame's result.
 * Returns how many it reaped, or the cancellation's result in *cancel_res. */
static unsigned reap(struct virtio_net *n, unsigned want, bool wait, int *cancel_res)
{
	struct net_tx_batch *b = n->txb;
	unsigned got = 0;
	while (got < want) {
		struct io_uring_cqe *cqe;
		int r = wait ? io_uring_wait_cqe(&b->ring, &cqe) : io_uring_peek_cqe(&b->ring, &cqe);
		if (!wait && r == -EAGAIN)
			break;
		if (r == -EINTR)
			continue;
		if (r < 0) {
			/* Cannot happen with writes in flight; wait rather than hand the driver
			 * buffers the kernel may still read. */
			log_limited(LOG_WARN, "%s: waiting for tap writes: %s", n->vdev.name, strerror(-r));
			continue;
		}
		uint64_t i = io_uring_cqe_get_data64(cqe);
		if (i == CANCEL_TAG)
			*cancel_res = cqe->res;
		else if (i < b->n)
			b->res[i] = cqe->res;
		io_uring_cqe_seen(&b->ring, cqe);
		got++;
	}
	return got;
}

/* Write frames from..n-1 with one submission, in order; res[] gets each one's result
 * (NOT_RUN for those the ring did not take). Returns when no write is in flight. */
static void submit(struct virtio_net *n, unsigned from)
{
	struct net_tx_batch *b = n->txb;
	/* Unlinked writes need RWF_NOWAIT: a full tap must answer in line, not hold a write in
	 * flight while later ones go. (Should one be held all the same, it is cancelled below
	 * and taken as refused: net_txb_flush.) */
	b->batch_linked = b->linked || !b->nowait;
	for (unsigned i = from; i < b->n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring); /* the ring holds a batch */
		io_uring_prep_writev2(sqe, tap_fd(n), &b->iov[b->f[i].iov_first], b->f[i].niov, 0,
				      b->nowait ? RWF_NOWAIT : 0);
		io_uring_sqe_set_data64(sqe, i);
		if (i + 1 < b->n && b->batch_linked)
			sqe->flags |= IOSQE_IO_LINK;
		b->res[i] = NOT_RUN;
	}
	int r;
	do
		r = io_uring_submit(&b->ring);
	while (r == -EINTR);
	unsigned want = r > 0 ? (unsigned)r : 0;
	stat_add(&n->stats.tx_submits, 1);
	bool partial = want < b->n - from;
	if (partial) {
		/* The kernel took only part (out of memory?): the rest stays in the submission
		 * ring, so the ring cannot be used again; those frames go by writev. */
		turn_off(n, r < 0 ? strerror(-r) : "io_uring took part of a batch");
	}
	int cancel_res = 0;
	unsigned got = reap(n, want, false, &cancel_res);
	if (got < want) {
		/* A write did not complete inline: without RWF_NOWAIT (Linux 6.1's tap) a full
		 * tap makes io_uring wait for room. Cancel it (the writes linked after it go with
		 * it): net_txb_flush tries it again with a writev, which a tap still full refuses
		 * (-EAGAIN), so it goes back to the ring and the I/O thread waits for EPOLLOUT as
		 * before. */
		unsigned i = from;
		while (i < b->n && b->res[i] != NOT_RUN)
			i++;
		/* (not after a partial submission: submitting the cancellation would submit the
		 * writes left in the ring too, which go by writev: wait instead) */
		struct io_uring_sqe *sqe = partial ? NULL : io_uring_get_sqe(&b->ring);
		r = 0;
		if (sqe) {
			io_uring_prep_cancel64(sqe, i, 0);
			io_uring_sqe_set_data64(sqe, CANCEL_TAG);
			do
				r = io_uring_submit(&b->ring);
			while (r == -EINTR);
		}
		if (sqe && r != 1)   /* the cancellation left in the ring would go with the next batch */
			turn_off(n, r < 0 ? strerror(-r) : "io_uring did not take a cancellation");
		got += reap(n, want - got + (r == 1), true, &cancel_res);
		if (cancel_res == -EALREADY)   /* it was running on a worker thread: no gain here */
			turn_off(n, "tap writes through io_uring go to worker threads");
	}
}

/* The tap refused frame i of an unlinked batch for lack of room: links from now on. If a
 * later frame of the batch was taken, it went ahead of this one: drop this one (-EIO, a
 * transmit error) rather than send it out of order; the loop asks again for each later
 * refused frame. Else r: this frame and the rest go back to the ring as with links. */
static ssize_t first_refusal(struct virtio_net *n, unsigned i, ssize_t r)
{
	struct net_tx_batch *b = n->txb;
	if (!b->linked) {
		b->linked = true;
		log_info("%s: the tap refused a frame for lack of room: transmit batches linked from now on",
			 n->vdev.name);
	}
	for (unsigned k = i + 1; k < b->n; k++)
		if (b->res[k] >= 0)
			return -EIO;
	return r;
}

int net_txb_flush(struct virtio_net *n)
{
	struct net_tx_batch *b = n->txb;
	if (!b || !b->n)
		return 0;
	struct virtq *vq = &n->vdev.vq[VIRTIO_NET_TXQ];
	int flags = 0;
	for (unsigned i = 0; i < b->n;) {
		unsigned from = i;
		if (!b->off)
			submit(n, from);
		else
			for (unsigned k = from; k < b->n; k++)
				b->res[k] = NOT_RUN;
		for (; i < b->n; i++) {
			const struct tx_frame *f = &b->f[i];
			ssize_t r = b->res[i];
			if (r == -ECANCELED && !b->batch_linked)
				r = -EAGAIN; /* unlinked, held in flight and cancelled: the tap was full */
			if (r == -ECANCELED && i > from)
				break; /* a write before it failed for good: again from here */
			if (r == -EOPNOTSUPP && b->nowait) {
				/* Linux 6.1's tap: again from here without it (see submit) */
				b->nowait = false;
				log_debug("%s: the tap does not take RWF_NOWAIT", n->vdev.name);
				break;
			}
			if (r == NOT_RUN || r == -EOPNOTSUPP || r == -ECANCELED)
				r = net_tx_writev(n, &b->iov[f->iov_first], f->niov);
			/* (also when submit turned the batches off on the way: writes after this
			 * one may have gone all the same) */
			if ((r == -EAGAIN || r == -ENOBUFS) && !b->batch_linked)
				r = first_refusal(n, i, r);
			if (r == -EAGAIN || r == -ENOBUFS) {
				/* The tap is full: this frame and the later ones again when it is
				 * writable, the limiter as it was when this one was admitted. */
				virtq_unpop(vq, (uint16_t)(b->n - i));
				if (f->has_rl)
					n->tx_rl = f->rl;
				n->tx_waiting = true;
				stat_add(&n->stats.tx_blocked, 1);
				b->n = b->niov = 0;
				return flags | VIRTIO_SERVE_STOP;
			}
			net_tx_count(n, r, f->len);
			virtq_push(vq, f->head, 0);
			flags |= VIRTIO_SERVE_PUSHED;
		}
	}
	b->n = b->niov = 0;
	return flags;
}
