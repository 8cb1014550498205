/* A VM's screen through petreld (docs/display.md#petreld): GET /vms/NAME/vnc relays the worker's
 * VNC socket to a viewer that passed the gate, as WebSocket messages (the page's noVNC) or as
 * the raw stream after the 101 (petrelctl vnc's loopback port); the viewer's half goes through
 * web_rfb.c's filter (read-only viewers' input dropped, sizes bounded), and nothing of it
 * reaches the worker before the worker's greeting. GET /vms/NAME/screenshot reads one frame as
 * an RFB client and answers it as a PNG (libpng). One thread per viewer or screenshot. */
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "manager/worker.h"
#include "manager/web/web.h"
#include "manager/web/web_rfb.h"

#include <errno.h>
#include <limits.h>
#include <png.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#define VNC_MAX_WS_MSG 131072   /* a viewer's WebSocket message (noVNC sends one RFB message each) */
#define VNC_IO_TIMEOUT_S 10     /* a screenshot's worker, or a relay's write to it, that stalls */
#define VNC_GREETING 12         /* "RFB 003.008\n": the worker speaks first */

struct vnc_relay {
	struct manager *m;
	char vm[VM_NAME_MAX + 1];
	char sock[PATH_MAX];
	bool websocket;
	int fd, peer;               /* the viewer, the worker's VNC socket */
	size_t greeted;             /* bytes of the worker's greeting seen (viewer bytes wait for it) */
	struct rfb_filter filter;
};

static int vnc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = { VNC_IO_TIMEOUT_S, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* All of p to fd, blocking or not (petreld's HTTP connections are non-blocking): a peer that
 * takes nothing for VNC_IO_TIMEOUT_S is gone. */
static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN) {
			struct pollfd pf = { fd, POLLOUT, 0 };
			if (poll(&pf, 1, VNC_IO_TIMEOUT_S * 1000) <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (k <= 0)
			return -EIO;
		p += k, n -= (size_t)k;
	}
	return 0;
}

/* Viewer bytes: checked and passed to the worker. A viewer that breaks the protocol, or speaks
 * before the worker, ends its session (the worker's socket shut: the relay sees its end). */
static int viewer_bytes(struct vnc_relay *v, const uint8_t *data, size_t len)
{
	const char *why = "the viewer spoke before the VNC server";
	uint8_t *out = malloc(len + RFB_FILTER_SLACK);
	ssize_t n = !out ? -ENOMEM : v->greeted < VNC_GREETING ? -EPROTO : rfb_filter_feed(&v->filter, data, len, out, &why);
	int e = n < 0 ? (int)n : send_all(v->peer, out, (size_t)n);
	free(out);
	if (n == -EPROTO)
		mgr_vm_log(v->m, v->vm, "vnc: a viewer closed: %s", why);
	if (e < 0)
		shutdown(v->peer, SHUT_RDWR);
	return e;
}

static void ws_msg(void *arg, const uint8_t *data, size_t len)
{
	viewer_bytes(arg, data, len);
}

/* Worker bytes seen by the relay: only the greeting's count matters (the rest passes as is). */
static void worker_bytes(struct vnc_relay *v, size_t n)
{
	v->greeted = v->greeted + n > VNC_GREETING ? VNC_GREETING : v->greeted + n;
}

/* The raw relay (petrelctl vnc): both ways with poll; the viewer is read only after the
 * worker's greeting. */
static void raw_relay(struct vnc_relay *v)
{
	uint8_t buf[65536];
	for (;;) {
		struct pollfd p[2] = { { v->peer, POLLIN, 0 }, { v->fd, v->greeted >= VNC_GREETING ? POLLIN : 0, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (p[0].revents) {
			ssize_t n = recv(v->peer, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0 || send_all(v->fd, buf, (size_t)n) < 0)
				return;
			worker_bytes(v, (size_t)n);
		}
		if (p[1].revents) {
			ssize_t n = recv(v->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0 || viewer_bytes(v, buf, (size_t)n) < 0)
				return;
		}
	}
}

/* The WebSocket relay counts the greeting through a peek before web_ws_relay's reads. */
static void wait_greeting(struct vnc_relay *v)
{
	uint8_t b[VNC_GREETING];
	struct pollfd p = { v->peer, POLLIN, 0 };
	while (v->greeted < VNC_GREETING && poll(&p, 1, VNC_IO_TIMEOUT_S * 1000) > 0) {
		ssize_t n = recv(v->peer, b, sizeof(b), MSG_PEEK);
		if (n <= 0)
			return;
		v->greeted = (size_t)n;
		if ((size_t)n < sizeof(b))
			usleep(10000);
	}
}

static void *relay_run(void *arg)
{
	struct vnc_relay *v = arg;
	if (v->websocket) {
		wait_greeting(v);
		web_ws_relay(v->fd, v->peer, VNC_MAX_WS_MSG, ws_msg, v);
	} else {
		raw_relay(v);
	}
	if (v->filter.dropped)
		mgr_vm_log(v->m, v->vm, "vnc: a read-only viewer's %llu input messages dropped",
			   (unsigned long long)v->filter.dropped);
	close(v->peer);
	close(v->fd);
	free(v);
	return NULL;
}

static void relay_stream(void *arg, int fd)
{
	struct vnc_relay *v = arg;
	if (fd < 0) {
		close(v->peer);
		free(v);
		return;
	}
	v->fd = fd;
	if (mgr_detached(relay_run, v) < 0) {
		close(fd);
		close(v->peer);
		free(v);
	}
}

/* The VM's VNC socket on the host, or a fault answered: 0 and path, or -1. */
static int vnc_socket_of(struct manager *m, const char *name, char *path, size_t size, struct api_response *r)
{
	pthread_mutex_lock(&m->lock);
	struct mgr_vm *vm = mgr_vm_find(m, name);
	bool running = vm && vm->pid > 0 && (vm->state == VM_RUNNING || vm->state == VM_PAUSED);
	if (vm)
		worker_vnc_path(m, vm, false, path, size);
	pthread_mutex_unlock(&m->lock);
	if (!vm)
		api_response_fault(r, 404, "no such VM");
	else if (!running)
		api_response_fault(r, 409, "VM '%s' is not running", name);
	return vm && running ? 0 : -1;
}

enum api_result web_vnc_connect(struct manager *m, const char *vm, const char *upgrade, const char *key,
				bool may_type, struct api_response *r)
{
	bool ws = upgrade && !strcasecmp(upgrade, "websocket");
	char accept[29] = "";
	if (!ws && !(upgrade && !strcasecmp(upgrade, "rfb"))) {
		api_response_fault(r, 400, "GET /vms/NAME/vnc needs Upgrade: websocket (a browser) or Upgrade: rfb");
		return API_DONE;
	}
	if (ws && web_ws_accept(key, accept) < 0) {
		api_response_fault(r, 400, "a WebSocket handshake needs Sec-WebSocket-Key (16 bytes, base64)");
		return API_DONE;
	}
	struct vnc_relay *v = calloc(1, sizeof(*v));
	if (!v) {
		api_response_fault(r, 500, "out of memory");
		return API_DONE;
	}
	if (vnc_socket_of(m, vm, v->sock, sizeof(v->sock), r) < 0) {
		free(v);
		return API_DONE;
	}
	v->peer = vnc_connect(v->sock);
	if (v->peer < 0) {
		api_response_fault(r, 409, "VM '%s' has no display (no VNC server at %s: %s)", vm, v->sock,
				   strerror(-v->peer));
		free(v);
		return API_DONE;
	}
	int hn = ws ? asprintf(&r->headers, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
			       accept)
		    : asprintf(&r->headers, "Upgrade: rfb\r\nConnection: Upgrade\r\n");
	if (hn < 0) {
		r->headers = NULL;
		close(v->peer);
		free(v);
		api_response_fault(r, 500, "out of memory");
		return API_DONE;
	}
	v->m = m;
	v->websocket = ws;
	snprintf(v->vm, sizeof(v->vm), "%s", vm);
	rfb_filter_init(&v->filter, !may_type);
	r->status = 101;
	r->stream = relay_stream;
	r->stream_opaque = v;
	return API_DONE;
}

/* ---- screenshots ---- */

struct shot {
	struct manager *m;
	char vm[VM_NAME_MAX + 1];
	char sock[PATH_MAX];
	uint32_t width;             /* a thumbnail's, or 0 */
	api_done_fn done;
	void *opaque;
};

static int fd_read(void *ctx, void *buf, size_t len)
{
	int fd = *(int *)ctx;
	for (uint8_t *p = buf; len;) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return -ECONNRESET;
		p += n, len -= (size_t)n;
	}
	return 0;
}

static int fd_write(void *ctx, const void *buf, size_t len)
{
	return send_all(*(int *)ctx, buf, len);
}

struct png_out {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};

static void png_write(png_structp png, png_bytep data, size_t len)
{
	struct png_out *o = png_get_io_ptr(png);
	if (o->failed)
		return;
	if (o->len + len > o->cap) {
		size_t cap = (o->cap ? o->cap * 2 : 65536) + len;
		uint8_t *n = realloc(o->data, cap);
		if (!n) {
			o->failed = true;
			return;
		}
		o->data = n, o->cap = cap;
	}
	memcpy(o->data + o->len, data, len);
	o->len += len;
}

static void png_flush(png_structp png)
{
	(void)png;
}

/* frame (XRGB8888: B, G, R, X in memory) as a PNG in *o: 0 or -ENOMEM. */
static int png_encode(const struct rfb_frame *f, struct png_out *o)
{
	png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	png_infop info = png ? png_create_info_struct(png) : NULL;
	if (!info || setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -ENOMEM;
	}
	png_set_write_fn(png, o, png_write, png_flush);
	png_set_IHDR(png, info, f->width, f->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_set_compression_level(png, 3);   /* a screen compresses well already at low levels */
	png_write_info(png, info);
	png_set_bgr(png);
	png_set_filler(png, 0, PNG_FILLER_AFTER);
	for (uint32_t y = 0; y < f->height; y++)
		png_write_row(png, f->pixels + (size_t)y * f->width * 4);
	png_write_end(png, NULL);
	png_destroy_write_struct(&png, &info);
	return o->failed ? -ENOMEM : 0;
}

static void *shot_run(void *arg)
{
	struct shot *s = arg;
	struct api_response r = { 0 };
	char err[256];
	struct rfb_frame f = { 0 };
	int fd = vnc_connect(s->sock);
	struct timeval tv = { VNC_IO_TIMEOUT_S, 0 };
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct rfb_io io = { fd_read, fd_write, &fd };
	if (fd < 0) {
		api_response_fault(&r, 409, "VM '%s' has no display (no VNC server at %s: %s)", s->vm, s->sock,
				   strerror(-fd));
	} else if (rfb_read_frame(&io, &f, err, sizeof(err)) < 0) {
		api_response_fault(&r, 502, "VM '%s': the screen could not be read: %s", s->vm, err);
	} else if (rfb_frame_shrink(&f, s->width) < 0) {
		api_response_fault(&r, 500, "out of memory");
	} else {
		struct png_out o = { 0 };
		if (png_encode(&f, &o) < 0) {
			free(o.data);
			api_response_fault(&r, 500, "out of memory");
		} else {
			r.status = 200;
			r.body = (char *)o.data;
			r.body_len = o.len;
			r.content_type = "image/png";
			r.headers = strdup("Cache-Control: no-store\r\n");
		}
	}
	if (fd >= 0)
		close(fd);
	free(f.pixels);
	s->done(s->opaque, &r);
	free(s);
	return NULL;
}

enum api_result web_vnc_screenshot(struct manager *m, const char *vm, uint32_t width, struct api_response *r,
				   api_done_fn done, void *opaque)
{
	struct shot *s = calloc(1, sizeof(*s));
	if (!s) {
		api_response_fault(r, 500, "out of memory");
		return API_DONE;
	}
	if (vnc_socket_of(m, vm, s->sock, sizeof(s->sock), r) < 0) {
		free(s);
		return API_DONE;
	}
	s->m = m;
	s->width = width;
	snprintf(s->vm, sizeof(s->vm), "%s", vm);
	s->done = done;
	s->opaque = opaque;
	if (mgr_detached(shot_run, s) < 0) {
		free(s);
		api_response_fault(r, 500, "cannot start a thread");
		return API_DONE;
	}
	return API_PENDING;
}
