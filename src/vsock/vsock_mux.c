/* The host side of virtio-vsock: connections between guest vsock ports and host Unix
 * sockets. See vsock_mux.h for the conventions and the trust model. */
#include "vsock/vsock_mux.h"
#include "vsock/vsock_mux_int.h"
#include "util/log.h"
#include "util/unix_socket.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uint64_t default_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- bookkeeping ---- */

static unsigned hash_key(uint32_t local, uint32_t peer)
{
	uint64_t k = ((uint64_t)local << 32 | peer) * 0x9e3779b97f4a7c15ull;
	return (unsigned)(k >> 54); /* 10 bits: 1024 buckets */
}

struct vsock_conn *vsk_lookup(const struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	for (struct vsock_conn *c = m->hash[hash_key(local, peer)]; c; c = c->hnext)
		if (c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

void vsk_hash_insert(struct vsock_mux *m, struct vsock_conn *c)
{
	unsigned b = hash_key(c->local_port, c->peer_port);
	c->hnext = m->hash[b];
	m->hash[b] = c;
	c->hashed = true;
}

static void hash_remove(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->hashed)
		return;
	for (struct vsock_conn **pp = &m->hash[hash_key(c->local_port, c->peer_port)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == c) {
			*pp = c->hnext;
			break;
		}
	}
	c->hashed = false;
}

void vsk_rxq_add(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->in_rxq || c->dead)
		return;
	c->rxnext = NULL;
	c->rxprev = m->rxq_tail;
	if (m->rxq_tail)
		m->rxq_tail->rxnext = c;
	else
		m->rxq_head = c;
	m->rxq_tail = c;
	c->in_rxq = true;
}

void vsk_rxq_remove(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->in_rxq)
		return;
	if (c->rxprev)
		c->rxprev->rxnext = c->rxnext;
	else
		m->rxq_head = c->rxnext;
	if (c->rxnext)
		c->rxnext->rxprev = c->rxprev;
	else
		m->rxq_tail = c->rxprev;
	c->rxprev = c->rxnext = NULL;
	c->in_rxq = false;
}

static void update_timer(struct vsock_mux *m)
{
	bool want = m->ndeadlines > 0;
	if (want == m->timer_armed || m->timer_fd < 0)
		return;
	struct itimerspec its = { 0 };
	if (want) {
		its.it_interval.tv_nsec = TIMER_TICK_MS * 1000000L;
		its.it_value = its.it_interval;
	}
	if (timerfd_settime(m->timer_fd, 0, &its, NULL) == 0)
		m->timer_armed = want;
}

void vsk_set_deadline(struct vsock_mux *m, struct vsock_conn *c, uint64_t ms)
{
	if (!c->deadline)
		m->ndeadlines++;
	c->deadline = m->now_ms() + ms;
	update_timer(m);
}

void vsk_clear_deadline(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->deadline)
		return;
	c->deadline = 0;
	m->ndeadlines--;
	update_timer(m);
}

struct vsock_conn *vsk_conn_alloc(struct vsock_mux *m, int fd)
{
	if (m->nconns >= VSOCK_MAX_CONNS)
		return NULL;
	unsigned slot;
	for (slot = 0; slot < VSOCK_MAX_CONNS && m->slots[slot]; slot++)
		;
	if (slot == VSOCK_MAX_CONNS)
		return NULL;
	struct vsock_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->slot = slot;
	c->fd = fd;
	m->slots[slot] = c;
	m->slot_gen[slot]++;
	m->nconns++;
	return c;
}

static void conn_close_fd(struct vsock_conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	c->registered = false;
	c->events = 0;
}

void vsk_conn_free(struct vsock_mux *m, struct vsock_conn *c)
{
	hash_remove(m, c);
	vsk_rxq_remove(m, c);
	vsk_clear_deadline(m, c);
	conn_close_fd(c);
	m->slots[c->slot] = NULL;
	m->slot_gen[c->slot]++; /* events already fetched for this slot are now stale */
	m->nconns--;
	free(c->buf);
	free(c);
}

int vsk_conn_register(struct vsock_mux *m, struct vsock_conn *c, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.u64 = (uint64_t)m->slot_gen[c->slot] << 32 | c->slot };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
		return -errno;
	c->registered = true;
	c->events = events;
	return 0;
}

uint32_t vsk_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

bool vsk_can_send_data(const struct vsock_conn *c)
{
	return c->state == CONN_ESTABLISHED && c->fd >= 0 && !c->host_eof &&
	       !(c->guest_shut & VSOCK_SHUTDOWN_RCV) && vsk_peer_credit(c) > 0;
}

bool vsk_conn_has_rx(const struct vsock_conn *c)
{
	return c->pending || (c->readable && vsk_can_send_data(c));
}

/* Watch the host socket for what we can act on now. */
void vsk_conn_set_events(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->fd < 0 || !c->registered)
		return;
	uint32_t ev = 0;
	switch (c->state) {
	case CONN_AWAIT_CMD:
		ev = EPOLLIN;
		break;
	case CONN_CONNECTING:
		break;
	case CONN_ESTABLISHED:
		if (!c->readable && !c->host_eof && !(c->guest_shut & VSOCK_SHUTDOWN_RCV))
			ev |= EPOLLIN;
		/* fall through */
	case CONN_CLOSING:
		if (vsk_flushable(c))
			ev |= EPOLLOUT;
		break;
	}
	if (ev == c->events)
		return;
	struct epoll_event e = { .events = ev, .data.u64 = (uint64_t)m->slot_gen[c->slot] << 32 | c->slot };
	if (epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

/* Stop watching a socket whose peer is gone (EPOLLHUP would fire forever). */
void vsk_conn_unregister(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->fd >= 0 && c->registered)
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->registered = false;
	c->events = 0;
}

/* Tear the connection down: the host socket closes now, the guest gets a RST (connections
 * the guest never heard of are simply freed). */
void vsk_conn_reset(struct vsock_mux *m, struct vsock_conn *c)
{
	conn_close_fd(c);
	c->buf_len = 0;
	vsk_gate_drop(c);
	c->readable = false;
	c->state = CONN_CLOSING;
	vsk_clear_deadline(m, c);
	if (!c->hashed) {
		vsk_conn_free(m, c);
		return;
	}
	c->pending = P_RST;
	vsk_rxq_add(m, c);
}

void vsk_queue_rst(struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	if (m->rst_count == VSOCK_RST_QUEUE)
		return; /* best effort: the guest times out instead */
	unsigned i = (m->rst_head + m->rst_count++) % VSOCK_RST_QUEUE;
	m->rst[i].local_port = local;
	m->rst[i].peer_port = peer;
}

void vsk_fill_hdr(const struct vsock_mux *m, struct vsock_hdr *h, uint32_t local, uint32_t peer,
		     uint16_t op, uint32_t flags, uint32_t len)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = m->guest_cid;
	h->src_port = local;
	h->dst_port = peer;
	h->len = len;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->flags = flags;
}

/* A packet for connection c: the credit fields tell the guest how much we can take. */
void vsk_conn_hdr(const struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h, uint16_t op,
		     uint32_t flags, uint32_t len)
{
	vsk_fill_hdr(m, h, c->local_port, c->peer_port, op, flags, len);
	h->buf_alloc = VSOCK_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
	c->last_fwd_sent = c->fwd_cnt;
	c->pending &= ~P_CREDIT_UPDATE;
}

void vsk_maybe_credit_update(struct vsock_mux *m, struct vsock_conn *c)
{
	if ((uint32_t)(c->fwd_cnt - c->last_fwd_sent) >= CREDIT_UPDATE_THRESHOLD) {
		c->pending |= P_CREDIT_UPDATE;
		vsk_rxq_add(m, c);
	}
}

/* ---- life cycle ---- */

int vsock_mux_fd(const struct vsock_mux *m)
{
	return m->epfd;
}

void vsock_mux_reset(struct vsock_mux *m)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = m->slots[i];
		if (c && c->state != CONN_AWAIT_CMD)
			vsk_conn_free(m, c);
	}
	m->rst_count = 0;
}

int vsock_mux_init(struct vsock_mux *m, const char *uds_path, uint64_t guest_cid)
{
	memset(m, 0, sizeof(*m));
	m->listen_fd = m->epfd = m->timer_fd = -1;
	m->guest_cid = guest_cid;
	m->next_local_port = VSOCK_LOCAL_PORT_BASE;
	m->now_ms = default_now_ms;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	/* Room for "_<port>" (up to 11 characters) for guest-initiated connections. */
	if (!uds_path || !*uds_path || strlen(uds_path) + 11 >= sizeof(sa.sun_path)) {
		log_error("vsock: uds_path '%s' must be 1 to %zu characters", uds_path ? uds_path : "",
			  sizeof(sa.sun_path) - 12);
		return -ENAMETOOLONG;
	}
	snprintf(m->uds_path, sizeof(m->uds_path), "%s", uds_path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", uds_path);
	int err;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (m->epfd < 0 || m->timer_fd < 0) {
		err = -errno;
		goto fail;
	}
	struct epoll_event e = { .events = EPOLLIN, .data.u64 = ID_TIMER };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->timer_fd, &e) < 0) {
		err = -errno;
		goto fail;
	}
	/* Never take over a socket another process is listening on (an API socket, say). */
	m->listen_fd = unix_listen(sa.sun_path, 64, true);
	if (m->listen_fd < 0) {
		err = m->listen_fd;
		m->listen_fd = -1;
		log_error("vsock: cannot listen on %s: %s", uds_path,
			  err == -EADDRINUSE ? "another process listens there, or it is not a socket" : strerror(-err));
		goto fail;
	}
	e.data.u64 = ID_LISTENER;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->listen_fd, &e) < 0) {
		err = -errno;
		goto fail;
	}
	return 0;
fail:
	vsock_mux_destroy(m);
	return err;
}

void vsock_mux_destroy(struct vsock_mux *m)
{
	for (unsigned i = 0; i < VSOCK_MAX_CONNS; i++)
		if (m->slots[i])
			vsk_conn_free(m, m->slots[i]);
	if (m->listen_fd >= 0) {
		close(m->listen_fd);
		unlink(m->uds_path);
	}
	if (m->timer_fd >= 0)
		close(m->timer_fd);
	if (m->epfd >= 0)
		close(m->epfd);
	m->listen_fd = m->timer_fd = m->epfd = -1;
}
