/* virtio-net over a tap device: see net.h for the design. */
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_int.h"
#include "devices/virtio/net/net_mmds.h"
#include "devices/dev_state.h"
#include "devices/dev_stats.h"
#include "util/error.h"
#include "util/outgate.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/util.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define TX_BUDGET 256

static struct virtio_net *to_net(struct virtio_dev *d)
{
	return (struct virtio_net *)((char *)d - offsetof(struct virtio_net, vdev));
}

static bool tx_usable(struct virtio_net *n)
{
	return virtio_is_running(&n->vdev) && virtq_is_enabled(&n->vdev.vq[VIRTIO_NET_TXQ]);
}

/* Watch the tap for what we can act on now. Safe from any thread (our own epoll set). */
static void set_interest(struct virtio_net *n, bool allow)
{
	uint32_t ev = 0;
	if (allow && rx_usable(n) && !n->rx_waiting && !n->rx_rl.blocked)
		ev |= EPOLLIN;
	if (allow && n->tx_waiting)
		ev |= EPOLLOUT;
	if (ev == n->tap_events)
		return;
	struct epoll_event e = { .events = ev, .data.fd = tap_fd(n) };
	if (epoll_ctl(n->epfd, EPOLL_CTL_MOD, tap_fd(n), &e) < 0)
		log_warn("%s: cannot watch the tap: %s", n->vdev.name, strerror(errno));
	else
		n->tap_events = ev;
}

/* ---- transmit ---- */

/* A held frame's time has come (the standby acknowledged its epoch; util/outgate.c, the
 * replication thread): written under the device's lock, as the I/O thread's own writes and
 * their counters. A full tap drops it, as a congested link would. */
static void write_held(void *opaque, const void *frame, size_t len)
{
	struct virtio_net *n = opaque;
	ssize_t r;
	pthread_mutex_lock(&n->vdev.lock);
	do
		r = write(tap_fd(n), frame, len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		stat_add(&n->stats.tx_errors, 1);
	pthread_mutex_unlock(&n->vdev.lock);
}

/* While the VM is replicated its frames wait for their epoch's acknowledgement: copied out of
 * the chain (which goes back to the guest at once) into the output gate. */
static bool gated(struct virtio_net *n, const struct virtq_chain *c)
{
	struct outgate *g = __atomic_load_n(&n->gate, __ATOMIC_ACQUIRE);
	if (!g || !n->is_tap)
		return false;
	uint8_t frame[VIRTIO_NET_MAX_FRAME];
	size_t off = 0;
	for (unsigned i = 0; i < c->n_out; i++) {
		memcpy(frame + off, c->iov[i].iov_base, c->iov[i].iov_len);
		off += c->iov[i].iov_len;
	}
	return outgate_hold(g, write_held, n, frame, off, false);
}

ssize_t net_tx_writev(struct virtio_net *n, const struct iovec *iov, unsigned niov)
{
	ssize_t r;
	do
		r = writev(tap_fd(n), iov, (int)niov);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

void net_tx_count(struct virtio_net *n, ssize_t r, uint64_t len)
{
	if (r < 0) {
		/* The kernel refused the frame (bad vnet header, interface down): drop it. */
		stat_add(&n->stats.tx_errors, 1);
		if (n->stats.tx_errors <= 5)
			log_debug("%s: tap write of %llu bytes: %s", n->vdev.name, (unsigned long long)len,
				  strerror((int)-r));
	} else {
		stat_add(&n->stats.tx_frames, 1);
		stat_add(&n->stats.tx_bytes, len - VIRTIO_NET_HDR_LEN);
	}
}

enum tx_kind { TX_TAP, TX_MALFORMED, TX_MMDS, TX_GATED };

/* One frame on its own: to the tap (one writev), MMDS or the output gate, or refused. */
static int tx_alone(struct virtio_net *n, struct virtq_chain *c, enum tx_kind kind)
{
	struct virtq *vq = &n->vdev.vq[VIRTIO_NET_TXQ];
	if (kind == TX_MALFORMED) {
		stat_add(&n->stats.tx_malformed, 1);
	} else if (kind == TX_MMDS) {
		net_mmds_tx(n, c);   /* for the metadata service: answered by petrel, never on the tap */
	} else if (kind == TX_GATED && gated(n, c)) {
		stat_add(&n->stats.tx_frames, 1); /* out when the standby has this epoch (src/ha) */
		stat_add(&n->stats.tx_bytes, c->out_len - VIRTIO_NET_HDR_LEN);
	} else {
		ssize_t r = net_tx_writev(n, c->iov, c->n_out);
		if (r == -EAGAIN || r == -ENOBUFS) {
			virtq_unpop(vq, 1);   /* again when the tap is writable (net_ready) */
			n->tx_waiting = true;
			stat_add(&n->stats.tx_blocked, 1);
			return VIRTIO_SERVE_STOP;
		}
		net_tx_count(n, r, c->out_len);
	}
	virtq_push(vq, c->head, 0);
	return VIRTIO_SERVE_PUSHED;
}

/* One frame from the driver: into the transmit batch, or on its own after the batch (the tap
 * sees the frames in the driver's order, and the chains not yet used are always the last
 * popped, so a full tap can give them back). */
static int net_tx_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *c, void *ctx)
{
	struct virtio_net *n = ctx;
	struct virtq *vq = &d->vq[q];
	bool ok = c->out_len >= VIRTIO_NET_HDR_LEN && c->out_len <= VIRTIO_NET_MAX_FRAME;
	/* (the clock only when a limit is set, as blk.c and the E1000 do: not once per frame) */
	if (ok && rate_limiter_active(&n->tx_rl) &&
	    !rate_limiter_admit(&n->tx_rl, c->out_len - VIRTIO_NET_HDR_LEN, now_ns())) {
		virtq_unpop(vq, 1);   /* tx_rate_limiter: again when its timer fires */
		return net_txb_flush(n) | VIRTIO_SERVE_STOP;
	}
	enum tx_kind kind = !ok ? TX_MALFORMED : n->mmds && net_mmds_wants(n, c) ? TX_MMDS :
			    __atomic_load_n(&n->gate, __ATOMIC_ACQUIRE) && n->is_tap ? TX_GATED : TX_TAP;
	bool batch = kind == TX_TAP && net_txb_on(n);
	int f = 0;
	if (!batch || !net_txb_room(n, c)) {
		f = net_txb_flush(n);
		if (f & VIRTIO_SERVE_STOP) {
			virtq_unpop(vq, 1);   /* after the frames before it */
			return f;
		}
	}
	return f | (batch ? net_txb_add(n, c) : tx_alone(n, c, kind));
}

static int net_tx_flush(struct virtio_dev *d, unsigned q, void *ctx)
{
	(void)d;
	(void)q;
	return net_txb_flush(ctx);
}

/* Send what the driver queued (interrupting it if buffers were used), unless the tap or the
 * limiter holds transmission back until its fd or timer fires. */
static void net_tx(struct virtio_net *n)
{
	if (n->tx_waiting || n->tx_rl.blocked || !tx_usable(n))
		return;
	struct virtio_server s = { .chain = net_tx_chain, .ctx = n, .budget = TX_BUDGET, .flush = net_tx_flush };
	virtio_serve(&n->vdev, VIRTIO_NET_TXQ, &n->chain, &s);
}

/* ---- device ops ---- */

static void net_work(struct virtio_net *n, bool rx, bool tx)
{
	struct virtio_dev *d = &n->vdev;
	if (tx)
		net_tx(n);
	bool rx_pushed = rx && net_rx(n);
	if (n->mmds)
		rx_pushed |= net_mmds_rx(n);   /* its replies need no tap traffic to go out */
	if (rx_pushed)
		virtio_queue_interrupt(d, VIRTIO_NET_RXQ);
	set_interest(n, true);
}

static void net_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_net *n = to_net(d);
	if (q == VIRTIO_NET_RXQ) {
		n->rx_waiting = false; /* new buffers: try again */
		net_work(n, true, false);
	} else if (q == VIRTIO_NET_TXQ) {
		net_work(n, false, true);
	} else if (q == VIRTIO_NET_CTRLQ) {
		net_ctrl(n);
	}
}

/* The tap (our epoll set) is ready: on the I/O thread. */
static void net_ready(void *opaque, int fd, uint32_t events)
{
	struct virtio_net *n = opaque;
	(void)fd;
	(void)events;
	struct epoll_event ev[4];   /* tap, MMDS timer, two limiter timers */
	pthread_mutex_lock(&n->vdev.lock);
	int k = epoll_wait(n->epfd, ev, 4, 0);
	uint32_t got = 0;
	bool limits = false;
	for (int i = 0; i < k; i++) {
		if (n->mmds && ev[i].data.fd == net_mmds_timer_fd(n))
			net_mmds_timer(n);   /* a retransmission is due: net_work sends it */
		else if (net_limit_timer(n, ev[i].data.fd))
			limits = true;       /* a limited direction may go on */
		else
			got |= ev[i].events;
	}
	if (!virtio_is_running(&n->vdev)) {
		set_interest(n, false);
	} else {
		bool tx = false;
		if ((got & (EPOLLOUT | EPOLLERR)) && n->tx_waiting) {
			n->tx_waiting = false;
			tx = true;
		}
		net_work(n, limits || (got & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0, tx || limits);
	}
	pthread_mutex_unlock(&n->vdev.lock);
}

static void net_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_net *n = to_net(d);
	uint8_t cfg[VIRTIO_NET_CONFIG_LEN];
	memset(cfg, 0, sizeof(cfg));
	memcpy(cfg, n->st.mac, 6);
	uint16_t pairs = 1;
	memcpy(cfg + 6, &n->st.status, 2);
	memcpy(cfg + 8, &pairs, 2);
	memcpy(cfg + 10, &n->st.mtu, 2);
	memcpy(data, cfg + off, len);  /* the core checked off + len <= config_len */
}

static int net_activate(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);
	unsigned off = 0;
	if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TAP_OFFLOAD_CSUM;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO4))
			off |= TAP_OFFLOAD_TSO4;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO6))
			off |= TAP_OFFLOAD_TSO6;
		if ((off & (TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6)) && virtio_has_feature(d, VIRTIO_NET_F_GUEST_ECN))
			off |= TAP_OFFLOAD_TSO_ECN;
	}
	n->rx_max = VIRTIO_NET_MAX_FRAME;
	if (n->is_tap) {
		if (tap_set_offload(&n->tap, off) < 0)
			return -EIO;
		int mtu = tap_get_mtu(&n->tap);
		if (!(off & (TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6)) && mtu > 0 && mtu <= 65535)
			n->rx_max = VIRTIO_NET_HDR_LEN + (uint32_t)mtu + 18;
	}
	n->rx_waiting = false;
	n->tx_waiting = false;
	log_debug("%s: active, features 0x%llx, tap offloads 0x%x, largest receive %u", d->name,
		  (unsigned long long)d->st.driver_features, off, n->rx_max);
	set_interest(n, true);
	return 0;
}

static void net_reset(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);
	/* The driver takes its buffers back: forget held chains and any frame in flight. */
	n->nheld = 0;
	n->rx_niov = 0;
	if (n->bounce_len)
		stat_add(&n->stats.rx_dropped, 1);
	n->bounce_len = 0;
	n->bounce_paid = false;
	n->rx_waiting = false;
	n->tx_waiting = false;
	n->st.status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE; /* a new driver has nothing to announce */
	set_interest(n, false);
	if (n->is_tap)
		tap_set_offload(&n->tap, 0);
}

static void net_destroy(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);
	if (n->epfd >= 0) {
		if (d->io)
			io_thread_remove(d->io, n->epfd);
		close(n->epfd);
		n->epfd = -1;
	}
	if (n->stats.rx_frames || n->stats.tx_frames)
		log_info("%s: rx %llu frames %llu bytes (%llu dropped, waited %llu times), tx %llu frames "
			 "%llu bytes (%llu errors, %llu malformed, %llu batch submissions)", d->name,
			 (unsigned long long)n->stats.rx_frames, (unsigned long long)n->stats.rx_bytes,
			 (unsigned long long)n->stats.rx_dropped, (unsigned long long)n->stats.rx_blocked,
			 (unsigned long long)n->stats.tx_frames, (unsigned long long)n->stats.tx_bytes,
			 (unsigned long long)n->stats.tx_errors, (unsigned long long)n->stats.tx_malformed,
			 (unsigned long long)n->stats.tx_submits);
	net_mmds_destroy(n);
	net_limit_destroy(n);
	net_txb_destroy(n);
	tap_close(&n->tap);
	free(n->bounce);
	n->bounce = NULL;
}

/* Pausing: receive chains held for the next frame go back to the ring (Firecracker's
 * prepare_save rewinds the same way); they are popped again after the resume. */
static void net_quiesce(struct virtio_dev *d)
{
	struct virtio_net *n = to_net(d);
	if (n->nheld) {
		virtq_unpop(&d->vq[VIRTIO_NET_RXQ], (uint16_t)n->nheld);
		net_drop_held(n, n->nheld);
	}
}

static const struct dev_state_ops net_state_ops;

static const struct virtio_dev_ops net_ops = {
	.config_read = net_config_read,
	.activate = net_activate,
	.reset = net_reset,
	.quiesce = net_quiesce,
	.queue_notify = net_queue_notify,
	.destroy = net_destroy,
	.state = &net_state_ops,
};

static int net_setup(struct virtio_net *n, const struct virtio_net_params *cfg, unsigned index,
		     const struct guest_mem *mem, struct io_thread *io)
{
	n->st.has_mac = cfg->has_mac;
	if (cfg->has_mac)
		memcpy(n->st.mac, cfg->guest_mac, 6);
	n->st.status = VIRTIO_NET_S_LINK_UP;
	n->st.mtu = cfg->has_mtu ? (uint16_t)cfg->mtu : 0;
	snprintf(n->iface_id, sizeof(n->iface_id), "%s", cfg->iface_id ? cfg->iface_id : "");
	n->rx_max = VIRTIO_NET_MAX_FRAME;
	n->bounce = malloc(VIRTIO_NET_MAX_FRAME);
	if (!n->bounce)
		return -ENOMEM;

	uint64_t f = VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
		     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6) |
		     VIRTIO_BIT(VIRTIO_NET_F_GUEST_ECN) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
		     VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_HOST_ECN) |
		     VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		     VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE) |
		     VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (cfg->has_mac)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MAC);
	if (cfg->has_mtu)
		f |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
	char name[32];
	snprintf(name, sizeof(name), "virtio-net%u", index);
	int err = virtio_dev_init(&n->vdev, name, VIRTIO_ID_NET, f, VIRTIO_NET_NQUEUES, VIRTIO_NET_QUEUE_SIZE,
				  VIRTIO_NET_CONFIG_LEN, &net_ops, mem, io);
	if (err < 0)
		return err;

	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (n->epfd < 0)
		return -errno;
	struct epoll_event e = { .events = 0, .data.fd = tap_fd(n) };
	if (epoll_ctl(n->epfd, EPOLL_CTL_ADD, tap_fd(n), &e) < 0)
		return -errno;
	if ((err = net_limit_init(n, cfg)) < 0 || (err = net_txb_init(n)) < 0)
		return err;
	if (io && (err = io_thread_add(io, n->epfd, EPOLLIN, net_ready, n)) < 0) {
		close(n->epfd);
		n->epfd = -1;
		return err;
	}
	return 0;
}

static void net_init_struct(struct virtio_net *n)
{
	memset(n, 0, sizeof(*n));
	n->tap.fd = -1;
	n->epfd = -1;
	n->rx_rl.timer_fd = n->tx_rl.timer_fd = -1;
	/* virtio_dev_destroy expects closed notify fds until virtio_dev_init ran. */
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		n->vdev.notify_fd[i] = -1;
	n->vdev.ops = &net_ops;
}

int virtio_net_create(struct virtio_net *n, const struct virtio_net_params *cfg, unsigned index,
		      const struct guest_mem *mem, struct io_thread *io)
{
	net_init_struct(n);
	int err = tap_open(&n->tap, cfg->host_dev_name);
	if (err < 0)
		return err;
	n->is_tap = true;
	if ((err = net_setup(n, cfg, index, mem, io)) < 0) {
		log_error("network interface '%s': cannot set up virtio-net: %s", cfg->iface_id, strerror(-err));
		virtio_dev_destroy(&n->vdev);
		net_destroy(&n->vdev); /* idempotent: in case virtio_dev_init failed before ops were set */
		return err;
	}
	log_info("%s: interface '%s' on tap '%s'", n->vdev.name, n->iface_id, n->tap.ifname);
	return 0;
}

int virtio_net_create_fd(struct virtio_net *n, const struct virtio_net_params *cfg, unsigned index, int fd,
			 const struct guest_mem *mem, struct io_thread *io)
{
	net_init_struct(n);
	n->tap.fd = fd;
	snprintf(n->tap.ifname, sizeof(n->tap.ifname), "fd%d", fd);
	int err = net_setup(n, cfg, index, mem, io);
	if (err < 0) {
		virtio_dev_destroy(&n->vdev);
		net_destroy(&n->vdev);
	}
	return err;
}

void virtio_net_poll(struct virtio_net *n)
{
	net_ready(n, n->epfd, EPOLLIN);
}

/* ---- saved state (section NET, docs/snapshots.md): the MAC, MTU and link status the guest
 * sees; a load checks the interface built now has the same MAC and MTU ---- */

static void net_save_state(void *dev, struct enc *e)
{
	struct virtio_net *n = to_net(dev);
	pthread_mutex_lock(&n->vdev.lock);
	put_bytes(e, n->st.mac, sizeof(n->st.mac));
	put_bool(e, n->st.has_mac);
	put_u16(e, n->st.status);
	put_u16(e, n->st.mtu);
	pthread_mutex_unlock(&n->vdev.lock);
}

static int net_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_net *n = to_net(dev);
	struct net_state ns;
	get_bytes(d, ns.mac, sizeof(ns.mac));
	ns.has_mac = get_bool(d);
	ns.status = get_u16(d);
	ns.mtu = get_u16(d);
	int e = dec_end(d, n->vdev.name, err, errlen);
	if (e < 0)
		return e;
	if (ns.has_mac != n->st.has_mac || ns.mtu != n->st.mtu || (ns.has_mac && memcmp(ns.mac, n->st.mac, 6) != 0))
		return error_set(err, errlen, -EINVAL, "%s: MAC address or MTU differ from the snapshot's", n->vdev.name);
	pthread_mutex_lock(&n->vdev.lock);
	n->st.status = ns.status & (VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	pthread_mutex_unlock(&n->vdev.lock);
	return 0;
}

static const struct dev_state_ops net_state_ops = {
	.id = STATE_ID('N', 'E', 'T', ' '), .version = 1,
	.save = net_save_state, .load = net_load_state,
};

static const char *const counter_names[DEV_NET_COUNTERS] = { DEV_NET_COUNTER_NAMES };

static void read_counters(void *dev, uint64_t *v)
{
	const struct virtio_net_stats *st = &((const struct virtio_net *)dev)->stats;
	const uint64_t *f[DEV_NET_COUNTERS] = {
		&st->rx_bytes, &st->rx_frames, &st->rx_errors, &st->rx_blocked, &st->tx_bytes, &st->tx_frames,
		&st->tx_errors, &st->tx_malformed, &st->rx_dropped, &st->rx_bad_bufs, &st->tx_blocked, &st->tx_submits,
	};
	for (unsigned i = 0; i < DEV_NET_COUNTERS; i++)
		v[i] = stat_read(f[i]);
}

/* "net" sums the interfaces (virtio-net and E1000), "net_ID" is one. */
const struct dev_stats_ops virtio_net_stats_ops = {
	.group = "net", .own_group = true, .n = DEV_NET_COUNTERS, .names = counter_names, .read = read_counters,
};
