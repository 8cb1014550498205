/* virtio-console: a port's byte stream to and from its back end (see console.h). All on the
 * I/O thread with the device's lock held, but vcon_port_init (before the VM runs) and
 * vcon_port_destroy (after the I/O thread stopped). */
#include "devices/virtio/console_int.h"
#include "util/error.h"
#include "util/iov.h"
#include "util/io_thread.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TX_BUDGET 64   /* chains per turn: one busy port cannot hold the others up */

bool vcon_port_host_connected(const struct vcon_port *p)
{
	return p->fd >= 0;
}

static struct virtio_dev *dev_of(struct vcon_port *p)
{
	return &p->owner->vdev;
}

static bool want_read(struct vcon_port *p)
{
	return p->fd >= 0 && __atomic_load_n(&p->st.guest_open, __ATOMIC_RELAXED) && p->len < VCON_BUF_SIZE &&
	       virtio_is_running(dev_of(p));
}

/* Watch the connection for what the port waits for now: bytes while it can take them, room
 * while the transmit queue waits. Always on the I/O thread (hang-ups are reported whatever
 * the events), except after a hang-up with bytes left in it, read when there is room. */
static void port_ready(void *opaque, int fd, uint32_t events);

static void watch(struct vcon_port *p)
{
	struct io_thread *io = dev_of(p)->io;
	if (p->fd < 0 || !io)
		return;
	uint32_t ev = (want_read(p) ? EPOLLIN : 0) | (p->tx_blocked ? EPOLLOUT : 0);
	if (p->hup) {
		if (p->watched)
			io_thread_remove(io, p->fd);
		p->watched = false;
	} else if (!p->watched) {
		p->watched = io_thread_add(io, p->fd, ev, port_ready, p) == 0;
		p->events = ev;
	} else if (ev != p->events && io_thread_modify(io, p->fd, ev) == 0) {
		p->events = ev;
	}
}

/* The host side is gone: the driver is told (PORT_OPEN 0), a socket port listens again. The
 * bytes already read stay for the driver. */
static void disconnect(struct vcon_port *p, const char *why)
{
	struct virtio_dev *d = dev_of(p);
	if (p->fd < 0)
		return;
	if (p->watched && d->io)
		io_thread_remove(d->io, p->fd);
	close(p->fd);
	p->fd = -1;
	p->watched = p->tx_blocked = p->hup = false;
	p->st.tx_done = 0;
	log_limited(LOG_INFO, "%s: port %u (%s): the host side is gone (%s)", d->name, p->index, p->st.name, why);
	if (p->listen_fd >= 0 && d->io)
		io_thread_modify(d->io, p->listen_fd, EPOLLIN);
	vcon_ctrl_serve(p->owner);
}

static void connect_fd(struct vcon_port *p, int fd)
{
	struct virtio_dev *d = dev_of(p);
	p->fd = fd;
	p->events = 0;
	p->watched = d->io && io_thread_add(d->io, fd, 0, port_ready, p) == 0;
	if (d->io && !p->watched) {
		log_limited(LOG_WARN, "%s: port %u: the I/O thread has no room for its connection", d->name, p->index);
		close(fd);
		p->fd = -1;
	}
}

/* Read what the back end has while there is room: false once the connection is gone. */
static bool port_read(struct vcon_port *p)
{
	while (p->fd >= 0 && p->len < VCON_BUF_SIZE) {
		size_t tail = (p->head + p->len) % VCON_BUF_SIZE;
		size_t room = VCON_BUF_SIZE - p->len < VCON_BUF_SIZE - tail ? VCON_BUF_SIZE - p->len : VCON_BUF_SIZE - tail;
		ssize_t n = read(p->fd, p->buf + tail, room);
		if (n > 0) {
			p->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		disconnect(p, n == 0 ? "end of stream" : strerror(errno));
		return false;
	}
	return p->fd >= 0;
}

static void port_ready(void *opaque, int fd, uint32_t events)
{
	struct vcon_port *p = opaque;
	struct virtio_dev *d = dev_of(p);
	pthread_mutex_lock(&d->lock);
	if (fd == p->fd) {
		if (events & EPOLLOUT)
			p->tx_blocked = false;
		if (want_read(p) && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			port_read(p);
		else if (events & EPOLLERR)
			disconnect(p, "socket error");
		else if (events & EPOLLHUP) {
			if (__atomic_load_n(&p->st.guest_open, __ATOMIC_RELAXED) && p->len == VCON_BUF_SIZE)
				p->hup = true;   /* the rest when the driver made room */
			else
				disconnect(p, "hung up");
		}
		vcon_port_serve(p->owner, p->index);
	}
	pthread_mutex_unlock(&d->lock);
}

/* A client on a socket port's listening socket: one at a time. */
static void listen_ready(void *opaque, int fd, uint32_t events)
{
	(void)events;
	struct vcon_port *p = opaque;
	struct virtio_dev *d = dev_of(p);
	pthread_mutex_lock(&d->lock);
	if (fd == p->listen_fd && p->fd < 0) {
		int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c >= 0) {
			stat_add(&p->owner->stats.connects, 1);
			log_info("%s: port %u (%s): a client connected on %s", d->name, p->index, p->st.name,
				 p->socket_path);
			connect_fd(p, c);
			if (p->fd >= 0 && d->io)
				io_thread_modify(d->io, fd, 0);   /* the next one waits in the backlog */
			vcon_ctrl_serve(p->owner);
			vcon_port_serve(p->owner, p->index);
		} else if (errno != EAGAIN && errno != EINTR) {
			log_limited(LOG_WARN, "%s: port %u: accept on %s: %s", d->name, p->index, p->socket_path,
				    strerror(errno));
		}
	} else if (fd == p->listen_fd && d->io) {
		io_thread_modify(d->io, fd, 0);
	}
	pthread_mutex_unlock(&d->lock);
}

/* ---- the queues ---- */

static bool rx_has_data(void *ctx)
{
	struct vcon_port *p = ctx;
	return p->len > 0 && __atomic_load_n(&p->st.guest_open, __ATOMIC_RELAXED);
}

/* Bytes the back end sent into one of the driver's receive buffers. */
static int rx_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *ch, void *ctx)
{
	struct vcon_port *p = ctx;
	size_t want = ch->in_len < p->len ? (size_t)ch->in_len : p->len, done = 0;
	while (done < want) {
		size_t chunk = want - done < VCON_BUF_SIZE - p->head ? want - done : VCON_BUF_SIZE - p->head;
		iov_copy_at(ch->iov + ch->n_out, ch->n_in, done, p->buf + p->head, chunk, true);
		done += chunk;
		p->head = (p->head + chunk) % VCON_BUF_SIZE;
		p->len -= chunk;
	}
	if (!p->len)
		p->head = 0;
	stat_add(&p->rx_bytes, done);
	virtq_push(&d->vq[q], ch->head, (uint32_t)done);
	return VIRTIO_SERVE_PUSHED;
}

static ssize_t send_iov(int fd, struct iovec *v, unsigned n)
{
	struct msghdr m = { .msg_iov = v, .msg_iovlen = n };
	ssize_t r = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0 && errno == ENOTSOCK)   /* a pipe, say: a stream all the same */
		r = writev(fd, v, (int)n);
	return r;
}

/* The driver's bytes into the back end; a full back end stops the queue (the bytes of the
 * chain written so far are remembered: the chain is given back and popped again). */
static int tx_chain(struct virtio_dev *d, unsigned q, struct virtq_chain *ch, void *ctx)
{
	struct vcon_port *p = ctx;
	uint64_t total = ch->out_len;
	if (p->fd < 0 || p->st.tx_done >= total) {
		stat_add(&p->dropped, p->fd < 0 ? total - p->st.tx_done : 0);
		p->st.tx_done = 0;
		virtq_push(&d->vq[q], ch->head, 0);
		return VIRTIO_SERVE_PUSHED;
	}
	struct iovec v[VIRTQ_MAX_CHAIN];
	unsigned n = 0;
	uint64_t skip = p->st.tx_done;
	for (unsigned i = 0; i < ch->n_out; i++) {
		if (skip >= ch->iov[i].iov_len) {
			skip -= ch->iov[i].iov_len;
			continue;
		}
		v[n].iov_base = (uint8_t *)ch->iov[i].iov_base + skip;
		v[n++].iov_len = ch->iov[i].iov_len - skip;
		skip = 0;
	}
	ssize_t w;
	do
		w = send_iov(p->fd, v, n);
	while (w < 0 && errno == EINTR);
	if (w < 0 && errno != EAGAIN) {
		disconnect(p, strerror(errno));
		virtq_push(&d->vq[q], ch->head, 0);
		return VIRTIO_SERVE_PUSHED;
	}
	if (w > 0) {
		p->st.tx_done += (uint32_t)w;
		stat_add(&p->tx_bytes, (uint64_t)w);
	}
	if (p->st.tx_done == total) {
		p->st.tx_done = 0;
		virtq_push(&d->vq[q], ch->head, 0);
		return VIRTIO_SERVE_PUSHED;
	}
	virtq_unpop(&d->vq[q], 1);    /* the rest when the back end has room (EPOLLOUT) */
	p->tx_blocked = true;
	return VIRTIO_SERVE_STOP;
}

static void serve_rx(struct virtio_console *c, unsigned n)
{
	struct vcon_port *p = &c->ports[n];
	struct virtio_dev *d = &c->vdev;
	if (!virtq_is_enabled(&d->vq[VCON_RXQ(n)]) || p->rx_waiting)
		return;
	struct virtio_server s = { .chain = rx_chain, .ctx = p, .has_data = rx_has_data, .waiting = &p->rx_waiting };
	virtio_serve(d, VCON_RXQ(n), &c->chain, &s);
}

void vcon_port_serve(struct virtio_console *c, unsigned n)
{
	struct vcon_port *p = &c->ports[n];
	struct virtio_dev *d = &c->vdev;
	if (virtio_is_running(d)) {
		serve_rx(c, n);
		if (p->hup && want_read(p)) {   /* what a hung-up peer left, now that there is room */
			port_read(p);
			serve_rx(c, n);
		}
		if (virtq_is_enabled(&d->vq[VCON_TXQ(n)]) && !p->tx_blocked)
			virtio_serve_queue(d, VCON_TXQ(n), &c->chain, TX_BUDGET, tx_chain, p);
	}
	watch(p);
}

void vcon_port_reset(struct vcon_port *p)
{
	char name[sizeof(p->st.name)];
	memcpy(name, p->st.name, sizeof(name));
	memset(&p->st, 0, sizeof(p->st));
	memcpy(p->st.name, name, sizeof(name));
	p->head = p->len = 0;
	p->rx_waiting = p->resend_open = false;
}

/* ---- made and unmade ---- */

static int check_name(const char *name, unsigned n, char *err, size_t errlen)
{
	size_t len = name ? strlen(name) : 0;
	if (len == 0 || len > VCON_NAME_MAX)
		return error_set(err, errlen, -EINVAL, "virtio-console: port %u: a name of 1 to %d bytes is needed", n,
				 VCON_NAME_MAX);
	for (size_t i = 0; i < len; i++)
		if (name[i] < 0x20 || name[i] > 0x7e || name[i] == '/')
			return error_set(err, errlen, -EINVAL,
					 "virtio-console: port %u: '%s' is not printable ASCII without '/'", n, name);
	return 0;
}

int vcon_port_init(struct virtio_console *c, unsigned n, const struct vcon_port_params *pp, char *err,
		   size_t errlen)
{
	struct vcon_port *p = &c->ports[n];
	struct io_thread *io = c->vdev.io;
	if (n == 0)
		return 0;   /* the console port: no back end, nothing buffered */
	int r = check_name(pp->name, n, err, errlen);
	if (r < 0)
		return r;
	for (unsigned k = 1; k < n; k++)
		if (!strcmp(c->ports[k].st.name, pp->name))
			return error_set(err, errlen, -EINVAL, "virtio-console: ports %u and %u are both '%s'", k, n,
					 pp->name);
	memcpy(p->st.name, pp->name, strlen(pp->name) + 1);
	if (!(p->buf = malloc(VCON_BUF_SIZE)))
		return error_oom(err, errlen);
	if (p->fd >= 0) {
		int fd = p->fd;
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
			return error_set(err, errlen, -errno, "virtio-console: port %u (%s): its fd: %s", n, p->st.name,
					 strerror(errno));
		p->fd = -1;
		connect_fd(p, fd);
		if (p->fd < 0)
			return error_set(err, errlen, -ENOSPC, "virtio-console: port %u (%s): the I/O thread is full",
					 n, p->st.name);
		return 0;
	}
	if (!pp->socket_path)
		return 0;
	if (!(p->socket_path = strdup(pp->socket_path)))
		return error_oom(err, errlen);
	p->listen_fd = unix_listen_mode(pp->socket_path, 1, true, 0600);
	if (p->listen_fd < 0) {
		r = p->listen_fd;
		p->listen_fd = -1;
		return error_set(err, errlen, r, "virtio-console: port %u (%s): cannot listen on %s: %s", n, p->st.name,
				 pp->socket_path, strerror(-r));
	}
	p->owns_path = true;
	if (io && (r = io_thread_add(io, p->listen_fd, EPOLLIN, listen_ready, p)) < 0)
		return error_set(err, errlen, r, "virtio-console: port %u (%s): the I/O thread is full", n, p->st.name);
	return 0;
}

void vcon_port_destroy(struct virtio_console *c, unsigned n)
{
	struct vcon_port *p = &c->ports[n];
	struct io_thread *io = c->vdev.io;
	if (p->fd >= 0) {
		if (p->watched && io)
			io_thread_remove(io, p->fd);
		close(p->fd);
	}
	if (p->listen_fd >= 0) {
		if (io)
			io_thread_remove(io, p->listen_fd);
		close(p->listen_fd);
	}
	if (p->owns_path)
		unlink(p->socket_path);
	free(p->socket_path);
	free(p->buf);
	p->fd = p->listen_fd = -1;
	p->watched = p->owns_path = false;
	p->socket_path = NULL;
	p->buf = NULL;
}
