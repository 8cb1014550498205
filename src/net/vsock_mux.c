/* The host side of virtio-vsock: connections between guest vsock ports and host Unix
 * sockets. See vsock_mux.h for the conventions and the trust model. */
#include "net/vsock_mux.h"
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

enum conn_state {
	CONN_AWAIT_CMD,    /* host client connected, "CONNECT <port>\n" not read yet (not hashed) */
	CONN_CONNECTING,   /* host-initiated: REQUEST sent or queued, waiting for RESPONSE */
	CONN_ESTABLISHED,
	CONN_CLOSING,      /* going away: host socket flushing, or a RST on its way to the guest */
};

/* Packets a connection owes the guest. */
#define P_REQUEST 0x01
#define P_RESPONSE 0x02
#define P_SHUTDOWN 0x04
#define P_CREDIT_UPDATE 0x08
#define P_RST 0x10

#define ID_LISTENER UINT64_MAX
#define ID_TIMER (UINT64_MAX - 1)
#define CREDIT_UPDATE_THRESHOLD (VSOCK_BUF_ALLOC / 4)
#define TIMER_TICK_MS 100

struct vsock_conn {
	unsigned slot;
	enum conn_state state;
	int fd;
	uint32_t local_port, peer_port;   /* host side, guest side */
	bool hashed, in_rxq, dead;
	struct vsock_conn *hnext, *rxprev, *rxnext;
	unsigned pending;
	uint32_t events;        /* epoll interest registered */
	bool registered;
	bool readable;          /* the host socket may have data we have not read */
	bool host_eof;          /* the host socket read returned 0 */
	bool hup;               /* the host peer is gone (EPOLLHUP/ERR): no more writes */
	bool shut_wr;           /* shutdown(SHUT_WR) done */
	uint32_t guest_shut;    /* SHUTDOWN flags the guest sent */
	uint32_t shutdown_flags;/* what our SHUTDOWN will say */
	/* guest -> host */
	uint32_t fwd_cnt, last_fwd_sent;
	uint8_t *buf;           /* VSOCK_BUF_ALLOC ring, allocated on first use */
	uint32_t buf_head, buf_len;
	/* host -> guest */
	uint32_t rx_cnt, peer_buf_alloc, peer_fwd_cnt;
	uint64_t deadline;      /* ms; 0: none */
	char cmd[32];           /* partial "CONNECT <port>" line */
	unsigned cmd_len;
};

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

static struct vsock_conn *lookup(const struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	for (struct vsock_conn *c = m->hash[hash_key(local, peer)]; c; c = c->hnext)
		if (c->local_port == local && c->peer_port == peer)
			return c;
	return NULL;
}

static void hash_insert(struct vsock_mux *m, struct vsock_conn *c)
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

static void rxq_add(struct vsock_mux *m, struct vsock_conn *c)
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

static void rxq_remove(struct vsock_mux *m, struct vsock_conn *c)
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

static void set_deadline(struct vsock_mux *m, struct vsock_conn *c, uint64_t ms)
{
	if (!c->deadline)
		m->ndeadlines++;
	c->deadline = m->now_ms() + ms;
	update_timer(m);
}

static void clear_deadline(struct vsock_mux *m, struct vsock_conn *c)
{
	if (!c->deadline)
		return;
	c->deadline = 0;
	m->ndeadlines--;
	update_timer(m);
}

static struct vsock_conn *conn_alloc(struct vsock_mux *m, int fd)
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

static void conn_free(struct vsock_mux *m, struct vsock_conn *c)
{
	hash_remove(m, c);
	rxq_remove(m, c);
	clear_deadline(m, c);
	conn_close_fd(c);
	m->slots[c->slot] = NULL;
	m->slot_gen[c->slot]++; /* events already fetched for this slot are now stale */
	m->nconns--;
	free(c->buf);
	free(c);
}

static int conn_register(struct vsock_mux *m, struct vsock_conn *c, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.u64 = (uint64_t)m->slot_gen[c->slot] << 32 | c->slot };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, c->fd, &e) < 0)
		return -errno;
	c->registered = true;
	c->events = events;
	return 0;
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static bool can_send_data(const struct vsock_conn *c)
{
	return c->state == CONN_ESTABLISHED && c->fd >= 0 && !c->host_eof &&
	       !(c->guest_shut & VSOCK_SHUTDOWN_RCV) && peer_credit(c) > 0;
}

static bool conn_has_rx(const struct vsock_conn *c)
{
	return c->pending || (c->readable && can_send_data(c));
}

/* Watch the host socket for what we can act on now. */
static void conn_set_events(struct vsock_mux *m, struct vsock_conn *c)
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
		if (c->buf_len)
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
static void conn_unregister(struct vsock_mux *m, struct vsock_conn *c)
{
	if (c->fd >= 0 && c->registered)
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->registered = false;
	c->events = 0;
}

/* Tear the connection down: the host socket closes now, the guest gets a RST (connections
 * the guest never heard of are simply freed). */
static void conn_reset(struct vsock_mux *m, struct vsock_conn *c)
{
	conn_close_fd(c);
	c->buf_len = 0;
	c->readable = false;
	c->state = CONN_CLOSING;
	clear_deadline(m, c);
	if (!c->hashed) {
		conn_free(m, c);
		return;
	}
	c->pending = P_RST;
	rxq_add(m, c);
}

static void queue_rst(struct vsock_mux *m, uint32_t local, uint32_t peer)
{
	if (m->rst_count == VSOCK_RST_QUEUE)
		return; /* best effort: the guest times out instead */
	unsigned i = (m->rst_head + m->rst_count++) % VSOCK_RST_QUEUE;
	m->rst[i].local_port = local;
	m->rst[i].peer_port = peer;
}

static void fill_hdr(const struct vsock_mux *m, struct vsock_hdr *h, uint32_t local, uint32_t peer,
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
static void conn_hdr(const struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h, uint16_t op,
		     uint32_t flags, uint32_t len)
{
	fill_hdr(m, h, c->local_port, c->peer_port, op, flags, len);
	h->buf_alloc = VSOCK_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
	c->last_fwd_sent = c->fwd_cnt;
	c->pending &= ~P_CREDIT_UPDATE;
}

static void maybe_credit_update(struct vsock_mux *m, struct vsock_conn *c)
{
	if ((uint32_t)(c->fwd_cnt - c->last_fwd_sent) >= CREDIT_UPDATE_THRESHOLD) {
		c->pending |= P_CREDIT_UPDATE;
		rxq_add(m, c);
	}
}

/* ---- iovec helpers ---- */

static size_t iov_copy_out(const struct iovec *iov, unsigned niov, size_t off, void *dst, size_t len)
{
	size_t done = 0;
	for (unsigned i = 0; i < niov && done < len; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = iov[i].iov_len - off;
		if (k > len - done)
			k = len - done;
		memcpy((uint8_t *)dst + done, (const uint8_t *)iov[i].iov_base + off, k);
		done += k;
		off = 0;
	}
	return done;
}

/* The first `len` bytes of iov as a new iovec array in out (at most max entries). */
static unsigned iov_head(const struct iovec *iov, unsigned niov, size_t len, struct iovec *out, unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < niov && len && n < max; i++) {
		if (!iov[i].iov_len)
			continue;
		out[n].iov_base = iov[i].iov_base;
		out[n].iov_len = iov[i].iov_len < len ? iov[i].iov_len : len;
		len -= out[n].iov_len;
		n++;
	}
	return n;
}

/* ---- guest -> host data ---- */

static void after_flush(struct vsock_mux *m, struct vsock_conn *c)
{
	maybe_credit_update(m, c);
	if (c->buf_len)
		return;
	if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->shut_wr && c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr = true;
	}
	if (c->state == CONN_CLOSING && c->pending != P_RST) {
		/* The guest closed both ways and everything reached the host: finish with a RST. */
		conn_reset(m, c);
	}
}

static void flush(struct vsock_mux *m, struct vsock_conn *c)
{
	while (c->buf_len && c->fd >= 0) {
		struct iovec iov[2];
		unsigned n = 1;
		uint32_t first = VSOCK_BUF_ALLOC - c->buf_head;
		iov[0].iov_base = c->buf + c->buf_head;
		iov[0].iov_len = c->buf_len < first ? c->buf_len : first;
		if (c->buf_len > first) {
			iov[1].iov_base = c->buf;
			iov[1].iov_len = c->buf_len - first;
			n = 2;
		}
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
		ssize_t r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_reset(m, c);
			return;
		}
		c->buf_head = (uint32_t)((c->buf_head + (uint32_t)r) % VSOCK_BUF_ALLOC);
		c->buf_len -= (uint32_t)r;
		c->fwd_cnt += (uint32_t)r;
		m->stats.bytes_to_host += (uint64_t)r;
	}
	after_flush(m, c);
	if (!c->dead && c->fd >= 0)
		conn_set_events(m, c);
}

/* RW payload from the guest: straight to the socket, the rest into the ring. */
static int write_payload(struct vsock_mux *m, struct vsock_conn *c, const struct iovec *payload,
			 unsigned niov, uint32_t len)
{
	size_t done = 0;
	if (!c->buf_len) {
		struct iovec iov[64];
		unsigned n = iov_head(payload, niov, len, iov, 64);
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
		ssize_t r;
		do
			r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		done = r > 0 ? (size_t)r : 0;
		c->fwd_cnt += (uint32_t)done;
		m->stats.bytes_to_host += done;
	}
	if (done < len) {
		if (!c->buf) {
			c->buf = malloc(VSOCK_BUF_ALLOC);
			if (!c->buf)
				return -ENOMEM;
			c->buf_head = 0;
		}
		size_t rest = len - done;
		uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_BUF_ALLOC;
		size_t first = VSOCK_BUF_ALLOC - tail < rest ? VSOCK_BUF_ALLOC - tail : rest;
		iov_copy_out(payload, niov, done, c->buf + tail, first);
		if (rest > first)
			iov_copy_out(payload, niov, done + first, c->buf, rest - first);
		c->buf_len += (uint32_t)rest;
	}
	return 0;
}

/* ---- connection set-up ---- */

/* The guest asks for host port h->dst_port: connect to <uds_path>_<port>. */
static void guest_connect(struct vsock_mux *m, const struct vsock_hdr *h)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
	int n = snprintf(path, sizeof(path), "%s_%u", m->uds_path, h->dst_port);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = -1;
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path) || m->nconns >= VSOCK_MAX_CONNS)
		goto refuse;
	memcpy(sa.sun_path, path, (size_t)n + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		log_debug("vsock: guest port %u -> host port %u: %s: %s", h->src_port, h->dst_port, path,
			  strerror(errno));
		goto refuse;
	}
	struct vsock_conn *c = conn_alloc(m, fd);
	if (!c)
		goto refuse;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->state = CONN_ESTABLISHED;
	if (conn_register(m, c, EPOLLIN) < 0) {
		conn_free(m, c); /* closes fd */
		fd = -1;
		goto refuse;
	}
	hash_insert(m, c);
	c->pending = P_RESPONSE;
	rxq_add(m, c);
	m->stats.conns_guest++;
	log_debug("vsock: guest port %u connected to %s", h->src_port, path);
	return;
refuse:
	if (fd >= 0)
		close(fd);
	m->stats.refused++;
	queue_rst(m, h->dst_port, h->src_port);
}

static uint32_t alloc_local_port(struct vsock_mux *m, uint32_t peer)
{
	for (;;) {
		uint32_t p = m->next_local_port++;
		if (m->next_local_port == 0)
			m->next_local_port = VSOCK_LOCAL_PORT_BASE;
		if (!lookup(m, p, peer))
			return p;
	}
}

/* "CONNECT <port>" (a trailing CR is tolerated). */
static bool parse_connect(const char *line, uint32_t *port)
{
	if (strncmp(line, "CONNECT ", 8))
		return false;
	const char *p = line + 8;
	if (*p < '0' || *p > '9')
		return false;
	uint64_t v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > UINT32_MAX)
			return false;
	}
	if (*p == '\r')
		p++;
	if (*p)
		return false;
	*port = (uint32_t)v;
	return true;
}

/* A host client's first line. Bytes after the newline stay in the socket: they are the
 * start of the stream. */
static void read_cmd(struct vsock_mux *m, struct vsock_conn *c)
{
	char peek[sizeof(c->cmd)];
	size_t room = sizeof(c->cmd) - 1 - c->cmd_len;
	ssize_t n = recv(c->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(m, c); /* the client went away */
		return;
	}
	char *nl = memchr(peek, '\n', (size_t)n);
	size_t take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
	if (recv(c->fd, c->cmd + c->cmd_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		conn_free(m, c);
		return;
	}
	c->cmd_len += (unsigned)take;
	if (!nl) {
		if (c->cmd_len >= sizeof(c->cmd) - 1) {
			log_debug("vsock: host client sent no CONNECT line");
			conn_free(m, c);
		}
		return;
	}
	c->cmd[c->cmd_len - 1] = 0;
	uint32_t port;
	if (!parse_connect(c->cmd, &port)) {
		log_debug("vsock: host client sent '%s', expected 'CONNECT <port>'", c->cmd);
		conn_free(m, c);
		return;
	}
	c->peer_port = port;
	c->local_port = alloc_local_port(m, port);
	hash_insert(m, c);
	c->state = CONN_CONNECTING;
	c->pending = P_REQUEST;
	set_deadline(m, c, VSOCK_CONNECT_TIMEOUT_MS);
	conn_set_events(m, c);
	rxq_add(m, c);
	m->stats.conns_host++;
	log_debug("vsock: host client -> guest port %u (host port %u)", port, c->local_port);
}

static void accept_clients(struct vsock_mux *m)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct vsock_conn *c = conn_alloc(m, fd);
		if (!c) {
			log_debug("vsock: more than %d connections: refusing a host client", VSOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		c->state = CONN_AWAIT_CMD;
		if (conn_register(m, c, EPOLLIN) < 0) {
			conn_free(m, c);
			continue;
		}
		set_deadline(m, c, VSOCK_CMD_TIMEOUT_MS);
	}
}

static void check_timeouts(struct vsock_mux *m)
{
	uint64_t now = m->now_ms();
	for (unsigned i = 0; i < VSOCK_MAX_CONNS && m->ndeadlines; i++) {
		struct vsock_conn *c = m->slots[i];
		if (!c || !c->deadline || now < c->deadline)
			continue;
		clear_deadline(m, c);
		if (c->state == CONN_AWAIT_CMD) {
			conn_free(m, c);
		} else {
			log_debug("vsock: connection host port %u / guest port %u timed out (%s)", c->local_port,
				  c->peer_port, c->state == CONN_CONNECTING ? "no answer to REQUEST" : "closing");
			conn_reset(m, c);
		}
	}
}

static void conn_event(struct vsock_mux *m, struct vsock_conn *c, uint32_t events)
{
	if (c->state == CONN_AWAIT_CMD) {
		read_cmd(m, c);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		if (c->state == CONN_CONNECTING) {
			conn_reset(m, c); /* the host client gave up */
			return;
		}
		/* The peer is gone: what it sent can still be read; nothing more can be written. */
		c->hup = true;
		c->readable = true;
		c->buf_len = 0;
		conn_unregister(m, c);
		if (c->state == CONN_CLOSING) {
			conn_reset(m, c);
			return;
		}
	}
	if (events & EPOLLIN)
		c->readable = true;
	if ((events & EPOLLOUT) && c->buf_len) {
		flush(m, c); /* may reset c (never frees it: it is hashed) */
		if (c->pending == P_RST)
			return;
	}
	if (conn_has_rx(c))
		rxq_add(m, c);
	conn_set_events(m, c);
}

void vsock_mux_poll(struct vsock_mux *m)
{
	struct epoll_event ev[64];
	int n = epoll_wait(m->epfd, ev, 64, 0);
	for (int i = 0; i < n; i++) {
		uint64_t id = ev[i].data.u64;
		if (id == ID_LISTENER) {
			accept_clients(m);
		} else if (id == ID_TIMER) {
			uint64_t ticks;
			if (read(m->timer_fd, &ticks, sizeof(ticks)) < 0) {
				/* nothing: spurious */
			}
			check_timeouts(m);
		} else {
			unsigned slot = (unsigned)(id & 0xffffffffu);
			uint32_t gen = (uint32_t)(id >> 32);
			if (slot >= VSOCK_MAX_CONNS || !m->slots[slot] || m->slot_gen[slot] != gen)
				continue; /* freed by an earlier event in this batch */
			conn_event(m, m->slots[slot], ev[i].events);
		}
	}
}

/* ---- packets from the guest ---- */

void vsock_mux_tx(struct vsock_mux *m, const struct vsock_hdr *h, const struct iovec *payload, unsigned niov)
{
	if (h->dst_cid != VSOCK_HOST_CID || h->src_cid != m->guest_cid) {
		/* Not for us or not from the guest's own address: nobody to answer. */
		m->stats.dropped_cid++;
		return;
	}
	uint32_t local = h->dst_port, peer = h->src_port;
	struct vsock_conn *c = lookup(m, local, peer);
	if (h->type != VSOCK_TYPE_STREAM) {
		m->stats.bad_packets++;
		if (c)
			conn_reset(m, c);
		else if (h->op != VSOCK_OP_RST)
			queue_rst(m, local, peer);
		return;
	}
	if (!c) {
		if (h->op == VSOCK_OP_REQUEST)
			guest_connect(m, h);
		else if (h->op != VSOCK_OP_RST)
			queue_rst(m, local, peer);
		return;
	}
	if (c->state == CONN_CLOSING && c->pending == P_RST) {
		/* Already reset on our side: only its RST is left to say. */
		if (h->op == VSOCK_OP_RST)
			conn_free(m, c);
		return;
	}
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (h->op) {
	case VSOCK_OP_RESPONSE: {
		if (c->state != CONN_CONNECTING) {
			m->stats.bad_packets++;
			conn_reset(m, c);
			return;
		}
		char ok[24];
		int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);
		if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
			conn_reset(m, c);
			return;
		}
		clear_deadline(m, c);
		c->state = CONN_ESTABLISHED;
		c->readable = true; /* the client may have written already */
		break;
	}
	case VSOCK_OP_RST:
		m->stats.resets_got++;
		conn_free(m, c);
		return;
	case VSOCK_OP_SHUTDOWN:
		if (c->state != CONN_ESTABLISHED && c->state != CONN_CLOSING) {
			conn_reset(m, c);
			return;
		}
		c->guest_shut |= h->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
		if (c->guest_shut == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND) && c->state != CONN_CLOSING) {
			/* The guest closed: flush what it sent, then RST (at most a few seconds). */
			c->state = CONN_CLOSING;
			c->pending &= ~(P_SHUTDOWN | P_CREDIT_UPDATE);
			set_deadline(m, c, VSOCK_CLOSE_TIMEOUT_MS);
		}
		after_flush(m, c);
		if (c->dead || c->pending == P_RST)
			return;
		break;
	case VSOCK_OP_RW: {
		if (c->state != CONN_ESTABLISHED || (c->guest_shut & VSOCK_SHUTDOWN_SEND) || c->hup ||
		    h->len > VSOCK_MAX_PAYLOAD) {
			m->stats.bad_packets++;
			conn_reset(m, c);
			return;
		}
		if ((uint64_t)c->buf_len + h->len > VSOCK_BUF_ALLOC) {
			/* More than the credit we gave: a broken or hostile driver. */
			m->stats.credit_violations++;
			conn_reset(m, c);
			return;
		}
		if (h->len && write_payload(m, c, payload, niov, h->len) < 0) {
			conn_reset(m, c);
			return;
		}
		maybe_credit_update(m, c);
		break;
	}
	case VSOCK_OP_CREDIT_UPDATE:
		break; /* the credit fields are all it says */
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= P_CREDIT_UPDATE;
		break;
	default: /* REQUEST on an existing connection, INVALID, unknown ops */
		m->stats.bad_packets++;
		conn_reset(m, c);
		return;
	}
	if (conn_has_rx(c))
		rxq_add(m, c);
	conn_set_events(m, c);
}

/* ---- packets for the guest ---- */

bool vsock_mux_has_rx(const struct vsock_mux *m)
{
	return m->rst_count || m->rxq_head;
}

/* The next packet connection c owes the guest. 1 if *h was filled. */
static int conn_rx(struct vsock_mux *m, struct vsock_conn *c, struct vsock_hdr *h,
		   const struct iovec *payload, unsigned niov, size_t room)
{
	if (c->pending & P_RST) {
		conn_hdr(m, c, h, VSOCK_OP_RST, 0, 0);
		m->stats.resets_sent++;
		c->dead = true;
		return 1;
	}
	if (c->pending & P_REQUEST) {
		c->pending &= ~P_REQUEST;
		conn_hdr(m, c, h, VSOCK_OP_REQUEST, 0, 0);
		return 1;
	}
	if (c->pending & P_RESPONSE) {
		c->pending &= ~P_RESPONSE;
		conn_hdr(m, c, h, VSOCK_OP_RESPONSE, 0, 0);
		return 1;
	}
	if (c->readable && can_send_data(c)) {
		size_t max = room;
		if (max > peer_credit(c))
			max = peer_credit(c);
		if (max > VSOCK_MAX_PAYLOAD)
			max = VSOCK_MAX_PAYLOAD;
		if (max) {
			struct iovec iov[64];
			unsigned n = iov_head(payload, niov, max, iov, 64);
			ssize_t r = readv(c->fd, iov, (int)n);
			if (r > 0) {
				conn_hdr(m, c, h, VSOCK_OP_RW, 0, (uint32_t)r);
				c->rx_cnt += (uint32_t)r;
				m->stats.bytes_to_guest += (uint64_t)r;
				return 1;
			}
			if (r == 0) {
				/* The host side will send no more. */
				c->host_eof = true;
				c->readable = false;
				c->shutdown_flags = VSOCK_SHUTDOWN_SEND | (c->hup ? VSOCK_SHUTDOWN_RCV : 0);
				c->pending |= P_SHUTDOWN;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
				c->readable = false;
				conn_set_events(m, c);
			} else {
				conn_reset(m, c);
				conn_hdr(m, c, h, VSOCK_OP_RST, 0, 0);
				m->stats.resets_sent++;
				c->dead = true;
				return 1;
			}
		}
	}
	if (c->pending & P_SHUTDOWN) {
		c->pending &= ~P_SHUTDOWN;
		conn_hdr(m, c, h, VSOCK_OP_SHUTDOWN, c->shutdown_flags, 0);
		return 1;
	}
	if (c->pending & P_CREDIT_UPDATE) {
		conn_hdr(m, c, h, VSOCK_OP_CREDIT_UPDATE, 0, 0);
		return 1;
	}
	return 0;
}

int vsock_mux_rx(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *payload, unsigned niov, size_t room)
{
	if (m->rst_count) {
		fill_hdr(m, h, m->rst[m->rst_head].local_port, m->rst[m->rst_head].peer_port, VSOCK_OP_RST, 0, 0);
		m->rst_head = (m->rst_head + 1) % VSOCK_RST_QUEUE;
		m->rst_count--;
		m->stats.resets_sent++;
		return 1;
	}
	struct vsock_conn *c;
	while ((c = m->rxq_head)) {
		if (conn_rx(m, c, h, payload, niov, room)) {
			if (c->dead)
				conn_free(m, c);
			else if (conn_has_rx(c)) {
				/* Round robin: others get a turn before this one's next packet. */
				rxq_remove(m, c);
				rxq_add(m, c);
			} else {
				rxq_remove(m, c);
			}
			return 1;
		}
		if (conn_has_rx(c))
			return 0; /* it has data but the buffer has no room for any: wait for a bigger one */
		rxq_remove(m, c);
	}
	return 0;
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
			conn_free(m, c);
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
			conn_free(m, m->slots[i]);
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
