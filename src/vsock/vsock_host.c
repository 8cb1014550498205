/* The vsock host side's host sockets: connections the guest asks for and the host asks for
 * ("CONNECT <port>"), data on its way to the host, and the mux's epoll events. See vsock_mux.h. */
#include "vsock/vsock_mux.h"
#include "vsock/vsock_mux_int.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/unix_socket.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- guest -> host data ---- */

void vsk_after_flush(struct vsock_mux *m, struct vsock_conn *c)
{
	vsk_maybe_credit_update(m, c);
	if (c->buf_len)
		return;
	if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->shut_wr && c->fd >= 0) {
		shutdown(c->fd, SHUT_WR);
		c->shut_wr = true;
	}
	if (c->state == CONN_CLOSING && c->pending != P_RST) {
		/* The guest closed both ways and everything reached the host: finish with a RST. */
		vsk_conn_reset(m, c);
	}
}

void vsk_flush(struct vsock_mux *m, struct vsock_conn *c)
{
	uint32_t len;
	while ((len = vsk_flushable(c)) && c->fd >= 0) {
		struct iovec iov[2];
		unsigned n = 1;
		uint32_t first = VSOCK_BUF_ALLOC - c->buf_head;
		iov[0].iov_base = c->buf + c->buf_head;
		iov[0].iov_len = len < first ? len : first;
		if (len > first) {
			iov[1].iov_base = c->buf;
			iov[1].iov_len = len - first;
			n = 2;
		}
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
		ssize_t r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			vsk_conn_reset(m, c);
			return;
		}
		c->buf_head = (uint32_t)((c->buf_head + (uint32_t)r) % VSOCK_BUF_ALLOC);
		c->buf_len -= (uint32_t)r;
		c->fwd_cnt += (uint32_t)r;
		stat_add(&m->stats.bytes_to_host, (uint64_t)r);
	}
	vsk_after_flush(m, c);
	if (!c->dead && c->fd >= 0)
		vsk_conn_set_events(m, c);
}

/* RW payload from the guest: straight to the socket, the rest into the ring. */
int vsk_write_payload(struct vsock_mux *m, struct vsock_conn *c, const struct iovec *payload,
			 unsigned niov, uint32_t len)
{
	size_t done = 0;
	if (!c->buf_len && !m->gated) {
		struct iovec iov[64];
		unsigned n = iov_sub_max(payload, niov, 0, len, iov, 64);
		struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n };
		ssize_t r;
		do
			r = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		done = r > 0 ? (size_t)r : 0;
		c->fwd_cnt += (uint32_t)done;
		stat_add(&m->stats.bytes_to_host, done);
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
		iov_copy_at(payload, niov, done, c->buf + tail, first, false);
		if (rest > first)
			iov_copy_at(payload, niov, done + first, c->buf, rest - first, false);
		c->buf_len += (uint32_t)rest;
		if (m->gated)
			c->gate_in += rest;
	}
	return 0;
}

/* ---- connection set-up ---- */

/* The guest asks for host port h->dst_port: connect to <uds_path>_<port>. */
void vsk_guest_connect(struct vsock_mux *m, const struct vsock_hdr *h)
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
	struct vsock_conn *c = vsk_conn_alloc(m, fd);
	if (!c)
		goto refuse;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	c->state = CONN_ESTABLISHED;
	if (vsk_conn_register(m, c, EPOLLIN) < 0) {
		vsk_conn_free(m, c); /* closes fd */
		fd = -1;
		goto refuse;
	}
	vsk_hash_insert(m, c);
	c->pending = P_RESPONSE;
	vsk_rxq_add(m, c);
	stat_add(&m->stats.conns_guest, 1);
	log_debug("vsock: guest port %u connected to %s", h->src_port, path);
	return;
refuse:
	if (fd >= 0)
		close(fd);
	stat_add(&m->stats.refused, 1);
	vsk_queue_rst(m, h->dst_port, h->src_port);
}

static uint32_t alloc_local_port(struct vsock_mux *m, uint32_t peer)
{
	for (;;) {
		uint32_t p = m->next_local_port++;
		if (m->next_local_port == 0)
			m->next_local_port = VSOCK_LOCAL_PORT_BASE;
		if (!vsk_lookup(m, p, peer))
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
		vsk_conn_free(m, c); /* the client went away */
		return;
	}
	char *nl = memchr(peek, '\n', (size_t)n);
	size_t take = nl ? (size_t)(nl - peek) + 1 : (size_t)n;
	if (recv(c->fd, c->cmd + c->cmd_len, take, MSG_DONTWAIT) != (ssize_t)take) {
		vsk_conn_free(m, c);
		return;
	}
	c->cmd_len += (unsigned)take;
	if (!nl) {
		if (c->cmd_len >= sizeof(c->cmd) - 1) {
			log_debug("vsock: host client sent no CONNECT line");
			vsk_conn_free(m, c);
		}
		return;
	}
	c->cmd[c->cmd_len - 1] = 0;
	uint32_t port;
	if (!parse_connect(c->cmd, &port)) {
		log_debug("vsock: host client sent '%s', expected 'CONNECT <port>'", c->cmd);
		vsk_conn_free(m, c);
		return;
	}
	c->peer_port = port;
	c->local_port = alloc_local_port(m, port);
	vsk_hash_insert(m, c);
	c->state = CONN_CONNECTING;
	c->pending = P_REQUEST;
	vsk_set_deadline(m, c, VSOCK_CONNECT_TIMEOUT_MS);
	vsk_conn_set_events(m, c);
	vsk_rxq_add(m, c);
	stat_add(&m->stats.conns_host, 1);
	log_debug("vsock: host client -> guest port %u (host port %u)", port, c->local_port);
}

static void accept_clients(struct vsock_mux *m)
{
	for (int i = 0; i < 16; i++) {
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct vsock_conn *c = vsk_conn_alloc(m, fd);
		if (!c) {
			log_debug("vsock: more than %d connections: refusing a host client", VSOCK_MAX_CONNS);
			close(fd);
			continue;
		}
		c->state = CONN_AWAIT_CMD;
		if (vsk_conn_register(m, c, EPOLLIN) < 0) {
			vsk_conn_free(m, c);
			continue;
		}
		vsk_set_deadline(m, c, VSOCK_CMD_TIMEOUT_MS);
	}
}

static void check_timeouts(struct vsock_mux *m)
{
	uint64_t now = m->now_ms();
	for (unsigned i = 0; i < VSOCK_MAX_CONNS && m->ndeadlines; i++) {
		struct vsock_conn *c = m->slots[i];
		if (!c || !c->deadline || now < c->deadline)
			continue;
		vsk_clear_deadline(m, c);
		if (c->state == CONN_CLOSING && vsk_held(c)) {
			/* What the guest sent before closing waits for the standby, not for the host:
			 * the close timeout starts once it may go. */
			vsk_set_deadline(m, c, VSOCK_CLOSE_TIMEOUT_MS);
			continue;
		}
		if (c->state == CONN_AWAIT_CMD) {
			vsk_conn_free(m, c);
		} else {
			log_debug("vsock: connection host port %u / guest port %u timed out (%s)", c->local_port,
				  c->peer_port, c->state == CONN_CONNECTING ? "no answer to REQUEST" : "closing");
			vsk_conn_reset(m, c);
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
			vsk_conn_reset(m, c); /* the host client gave up */
			return;
		}
		/* The peer is gone: what it sent can still be read; nothing more can be written. */
		c->hup = true;
		c->readable = true;
		c->buf_len = 0;
		vsk_gate_drop(c);
		vsk_conn_unregister(m, c);
		if (c->state == CONN_CLOSING) {
			vsk_conn_reset(m, c);
			return;
		}
	}
	if (events & EPOLLIN)
		c->readable = true;
	if ((events & EPOLLOUT) && vsk_flushable(c)) {
		vsk_flush(m, c); /* may reset c (never frees it: it is hashed) */
		if (c->pending == P_RST)
			return;
	}
	if (vsk_conn_has_rx(c))
		vsk_rxq_add(m, c);
	vsk_conn_set_events(m, c);
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
