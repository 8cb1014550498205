/* The VNC server (vnc.h). One thread, the library's own event loop run by hand
 * (rfbProcessEvents, no thread of the library's): it accepts on the Unix socket, asks the display
 * which lines changed, compares them with its shadow of the frame and marks the tiles that differ
 * (vnc_damage.h), and lets the library read its clients' messages and send the updates they asked
 * for. The library reads the shadow, which holds what its clients were sent: the guest's frame is
 * copied whole only when a mode is first shown, then only the tiles that differ. Nothing of the
 * library writes the guest's frame (no server-side cursor). */
#include "ui/vnc.h"
#include "devices/display/display.h"
#include "ui/vnc_damage.h"
#include "ui/vnc_keys.h"
#include "ui/vnc_lib.h"
#include "util/error.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/unix_socket.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define VNC_MAX_DIM 8192           /* a mode beyond this (display.h refuses it first) shows blank */
#define VNC_BLANK_W 640            /* what a client sees while the guest shows nothing */
#define VNC_BLANK_H 480
#define VNC_TICK_US 15000          /* the loop's wait for client input: ~60 updates/s at most */
#define VNC_IDLE_MS 200            /* without clients: how often the listening socket is polled */
#define VNC_MAX_CLIENTS 16         /* more connections are closed at once */
#define VNC_CLIENT_WAIT_MS 5000    /* a client's partial message or full socket: then it goes */

struct vnc {
	struct display *d;
	int listen_fd;
	char path[108];
	rfbScreenInfoPtr screen;
	pthread_t thread;
	bool stop;                  /* atomic: vnc_stop asks the thread to end */

	/* the thread's own */
	struct display_mode mode;   /* what the screen shows now (enabled=false: the blank) */
	const uint8_t *fb;
	uint64_t *lines;            /* display_changed's bitmap, mode.height bits */
	uint8_t *blank;             /* VNC_BLANK_W x VNC_BLANK_H black (zero pages: never written) */
	struct vnc_damage damage;   /* the shadow of the shown frame: what really changed */
	bool had_clients;           /* the compare's figures are logged when the last one goes */
};

/* ---- the library's log: debug lines, rate-limited (a client can make it write) ---- */

static void lib_log(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	line[strcspn(line, "\n")] = '\0';
	log_limited(LOG_DEBUG, "vnc: %s", line);
}

/* ---- input ---- */

static struct vnc *vnc_of(rfbClientPtr cl)
{
	return cl->screen->screenData;
}

static void key_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	uint16_t xt = vnc_keysym_to_xt(keysym);
	if (xt)
		display_key(vnc_of(cl)->d, xt, down);
	else
		log_limited(LOG_DEBUG, "vnc: keysym 0x%x has no key in the US map: dropped", (unsigned)keysym);
}

static void pointer_event(int buttons, int x, int y, rfbClientPtr cl)
{
	struct vnc *v = vnc_of(cl);
	if (!v->mode.enabled)
		return;
	/* the library clips to its screen, which is the mode's; clip again for the device */
	uint32_t ux = x < 0 ? 0 : (uint32_t)x, uy = y < 0 ? 0 : (uint32_t)y;
	if (ux >= v->mode.width)
		ux = v->mode.width - 1;
	if (uy >= v->mode.height)
		uy = v->mode.height - 1;
	display_pointer_abs(v->d, ux, uy, (uint32_t)buttons & 0xff);
}

/* A viewer's clipboard (the library has bounded it to 1 MiB): the guest has no way to take it. */
static void cut_text(char *text, int len, rfbClientPtr cl)
{
	(void)text, (void)len, (void)cl;
}

/* QEMU's extended key event (RFB pseudo-encoding -258, message 255 subtype 0): a client that
 * announces the encoding gets it acknowledged with an empty rectangle of that encoding, then
 * sends 12-byte messages carrying the key's scan code beside its keysym. */
static int qemu_encodings[] = { (int)rfbEncodingQemuExtendedKeyEvent, 0 };

static rfbBool qemu_enable(rfbClientPtr cl, void **data, int encoding)
{
	(void)data;
	if (encoding != (int)rfbEncodingQemuExtendedKeyEvent)
		return FALSE;
	/* FramebufferUpdate, one rectangle 0,0 0x0 of encoding -258: written whole between two
	 * of the library's messages (this thread is the only writer) */
	static const uint8_t ack[16] = { rfbFramebufferUpdate, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
					 0xff, 0xff, 0xfe, 0xfe };
	if (vnc_lib.rfbWriteExact(cl, (const char *)ack, sizeof(ack)) < 0)
		vnc_lib.rfbCloseClient(cl);
	return TRUE;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static rfbBool qemu_message(rfbClientPtr cl, void *data, const rfbClientToServerMsg *msg)
{
	(void)data;
	if (msg->type != rfbQemuEvent)
		return FALSE;
	uint8_t b[11];   /* after the type: subtype, down (16 bits), keysym, keycode */
	if (vnc_lib.rfbReadExact(cl, (char *)b, sizeof(b)) <= 0) {
		vnc_lib.rfbCloseClient(cl);
		return TRUE;
	}
	if (b[0] != 0) {   /* 1 is QEMU's audio: not here */
		log_limited(LOG_DEBUG, "vnc: QEMU client message subtype %u refused: closing the client", b[0]);
		vnc_lib.rfbCloseClient(cl);
		return TRUE;
	}
	bool down = b[1] || b[2];
	uint16_t xt = vnc_qnum_to_xt(be32(b + 7));
	if (!xt)
		xt = vnc_keysym_to_xt(be32(b + 3));
	if (xt)
		display_key(vnc_of(cl)->d, xt, down);
	return TRUE;
}

static rfbProtocolExtension qemu_ext = {
	.pseudoEncodings = qemu_encodings,
	.enablePseudoEncoding = qemu_enable,
	.handleMessage = qemu_message,
};

/* ---- the screen ---- */

/* XRGB8888 little endian: blue first in memory. rfbNewFramebuffer resets the format to RGB
 * order, so it is set again after each, and the clients' translations follow it. */
static void set_format(rfbScreenInfoPtr s)
{
	s->serverFormat.redShift = 16;
	s->serverFormat.greenShift = 8;
	s->serverFormat.blueShift = 0;
	rfbClientIteratorPtr it = vnc_lib.rfbGetClientIterator(s);
	for (rfbClientPtr cl; (cl = vnc_lib.rfbClientIteratorNext(it));)
		vnc_lib.rfbSetTranslateFunction(cl);
	vnc_lib.rfbReleaseClientIterator(it);
}

static bool mode_ok(const struct display_mode *m, const uint8_t *fb)
{
	return fb && m->enabled && m->bpp == 32 && m->width && m->height && m->width <= VNC_MAX_DIM &&
	       m->height <= VNC_MAX_DIM && m->stride >= m->width * 4;
}

/* Show mode m at fb (or the blank): the clients are told the new size. The library reads the
 * shadow (vnc_damage.h), which holds exactly what its clients were sent: the dirty log is read
 * (and so starts over) before the shadow is filled, so a write after the copy is in the next
 * one. Without memory for a shadow, the library reads the guest's frame and every reported line
 * is sent whole. */
static void new_mode(struct vnc *v, const struct display_mode *m, const uint8_t *fb)
{
	bool ok = mode_ok(m, fb);
	if (!ok && m->enabled)
		log_limited(LOG_WARN, "vnc: the guest's mode %ux%u, %u bpp, stride %u cannot be shown: blank",
			    m->width, m->height, m->bpp, m->stride);
	uint32_t w = ok ? m->width : VNC_BLANK_W, h = ok ? m->height : VNC_BLANK_H;
	free(v->lines);
	v->lines = ok ? calloc((h + 63) / 64, sizeof(uint64_t)) : NULL;
	if (ok && !v->lines)
		ok = false, w = VNC_BLANK_W, h = VNC_BLANK_H;
	v->mode = *m;
	v->mode.enabled = ok;
	v->fb = ok ? fb : v->blank;
	const uint8_t *shown = v->fb;
	int row = ok ? (int)m->stride : (int)w * 4;
	struct vnc_damage old = v->damage;   /* the library reads it until rfbNewFramebuffer */
	v->damage.shadow = NULL;
	v->damage.cols = NULL;
	if (ok) {
		display_changed(v->d, v->lines, h);   /* everything is sent: the log starts over */
		if (vnc_damage_reset(&v->damage, fb, w, h, m->stride) == 0)
			shown = v->damage.shadow, row = (int)w * 4;
		else
			log_limited(LOG_WARN, "vnc: no memory for a shadow of the %ux%u frame: every line the "
				    "dirty log reports is sent whole", w, h);
	}
	vnc_lib.rfbNewFramebuffer(v->screen, (char *)shown, (int)w, (int)h, 8, 3, 4);
	vnc_damage_free(&old);
	v->screen->paddedWidthInBytes = row;
	set_format(v->screen);
	vnc_lib.rfbMarkRectAsModified(v->screen, 0, 0, (int)w, (int)h);
}

static void mark_rect(void *arg, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1)
{
	struct vnc *v = arg;
	vnc_lib.rfbMarkRectAsModified(v->screen, (int)x0, (int)y0, (int)x1, (int)y1);
}

/* What changed since the last look: a new mode, or lines the guest drew. */
static void refresh(struct vnc *v)
{
	struct display_mode m;
	const uint8_t *fb = display_frame(v->d, &m);
	bool ok = mode_ok(&m, fb);
	if (ok != v->mode.enabled || (ok && (m.generation != v->mode.generation || fb != v->fb ||
					     m.width != v->mode.width || m.height != v->mode.height ||
					     m.stride != v->mode.stride))) {
		new_mode(v, &m, fb);
		return;
	}
	if (!ok)
		return;
	int n = display_changed(v->d, v->lines, m.height);
	if (n <= 0) {
		if (n < 0)
			log_limited(LOG_WARN, "vnc: cannot read the display's changed lines: %s", strerror(-n));
		return;
	}
	/* of those lines, the tiles that differ from what was sent: copied into the shadow */
	vnc_damage_find(&v->damage, fb, m.stride, v->lines, mark_rect, v);
}

/* What the compare cost and saved while viewers looked (bench/display.py reads this line). */
static void log_damage(struct vnc *v)
{
	struct vnc_damage_stats *st = &v->damage.stats;
	if (!st->looks)
		return;
	log_info("vnc: shadow compare: %llu looks, %llu lines compared (%llu changed), %llu tiles (%llu changed), "
		 "%llu rectangles, CPU %llu us (%llu us a look)",
		 (unsigned long long)st->looks, (unsigned long long)st->lines, (unsigned long long)st->lines_changed,
		 (unsigned long long)st->tiles, (unsigned long long)st->tiles_changed, (unsigned long long)st->rects,
		 (unsigned long long)(st->cpu_ns / 1000), (unsigned long long)(st->cpu_ns / 1000 / st->looks));
	memset(st, 0, sizeof(*st));
}

static unsigned client_count(rfbScreenInfoPtr s)
{
	unsigned n = 0;
	rfbClientIteratorPtr it = vnc_lib.rfbGetClientIterator(s);
	while (vnc_lib.rfbClientIteratorNext(it))
		n++;
	vnc_lib.rfbReleaseClientIterator(it);
	return n;
}

static void accept_clients(struct vnc *v)
{
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_limited(LOG_WARN, "vnc: accept on %s: %s", v->path, strerror(errno));
			return;
		}
		if (client_count(v->screen) >= VNC_MAX_CLIENTS) {
			log_limited(LOG_WARN, "vnc: %u clients already: a new connection closed", VNC_MAX_CLIENTS);
			close(fd);
			continue;
		}
		/* the library owns fd from here (closed with its client, or at once on failure) */
		if (!vnc_lib.rfbNewClient(v->screen, fd))
			log_limited(LOG_DEBUG, "vnc: a client's connection failed at once");
	}
}

static void *vnc_loop(void *arg)
{
	struct vnc *v = arg;
	while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
		accept_clients(v);
		if (!v->screen->clientHead) {
			if (v->had_clients)
				log_damage(v);
			v->had_clients = false;
			/* nobody looks: no dirty log read, no frames; wake for a connection */
			struct pollfd p = { v->listen_fd, POLLIN, 0 };
			poll(&p, 1, VNC_IDLE_MS);
			continue;
		}
		v->had_clients = true;
		refresh(v);
		vnc_lib.rfbProcessEvents(v->screen, VNC_TICK_US);
	}
	return NULL;
}

/* ---- start and stop ---- */

static void vnc_free(struct vnc *v)
{
	if (v->screen) {
		vnc_lib.rfbShutdownServer(v->screen, TRUE);
		v->screen->frameBuffer = NULL;   /* the shadow, the guest's or v->blank: not the library's */
		vnc_lib.rfbScreenCleanup(v->screen);
	}
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->path);
	}
	log_damage(v);
	vnc_damage_free(&v->damage);
	free(v->lines);
	free(v->blank);
	free(v);
}

int vnc_start(struct display *d, const char *path, struct vnc **out, char *err, size_t errlen)
{
	int r = vnc_lib_load(err, errlen);
	if (r < 0)
		return r;
	if (strlen(path) >= sizeof(((struct vnc *)0)->path))
		return error_set(err, errlen, -ENAMETOOLONG, "vnc_socket %s: too long for a Unix socket", path);
	struct vnc *v = calloc(1, sizeof(*v));
	if (!v)
		return error_oom(err, errlen);
	v->d = d;
	v->listen_fd = -1;
	snprintf(v->path, sizeof(v->path), "%s", path);
	v->blank = calloc(VNC_BLANK_W * VNC_BLANK_H, 4);
	if (!v->blank) {
		vnc_free(v);
		return error_oom(err, errlen);
	}
	/* the library's globals: its log, how long a client may stall the loop, the extension */
	*vnc_lib.log = lib_log;
	*vnc_lib.err = lib_log;
	*vnc_lib.max_client_wait = VNC_CLIENT_WAIT_MS;
	static bool registered;   /* one VM per process: only its starts, one at a time */
	if (!registered)
		vnc_lib.rfbRegisterProtocolExtension(&qemu_ext);
	registered = true;

	rfbScreenInfoPtr s = vnc_lib.rfbGetScreen(NULL, NULL, VNC_BLANK_W, VNC_BLANK_H, 8, 3, 4);
	if (!s) {
		vnc_free(v);
		return error_oom(err, errlen);
	}
	v->screen = s;
	s->screenData = v;
	s->desktopName = "petrel";
	s->frameBuffer = (char *)v->blank;
	s->port = s->ipv6port = 0;          /* no TCP: connections come from our socket */
	s->autoPort = FALSE;
	s->alwaysShared = TRUE;              /* a viewer never disconnects the others */
	s->cursor = NULL;                    /* never drawn into the guest's framebuffer */
	s->kbdAddEvent = key_event;
	s->ptrAddEvent = pointer_event;
	s->setXCutText = cut_text;           /* the clipboard is not the guest's: dropped */
	s->setXCutTextUTF8 = cut_text;
	s->permitFileTransfer = FALSE;
	s->deferUpdateTime = 0;
	s->ignoreSIGPIPE = FALSE;            /* petrel's handler counts SIGPIPE (proc_metrics.h) */
	set_format(s);
	vnc_lib.rfbInitServerWithPthreadsAndZRLE(s);

	v->listen_fd = unix_listen(path, 8, true);
	if (v->listen_fd < 0) {
		r = error_set(err, errlen, v->listen_fd, "vnc_socket %s: %s", path, strerror(-v->listen_fd));
		v->listen_fd = -1;
		vnc_free(v);
		return r;
	}
	r = thread_start(&v->thread, SC_VNC, "petrel_vnc", vnc_loop, v);
	if (r < 0) {
		vnc_free(v);
		return error_set(err, errlen, r, "cannot start the VNC thread: %s", strerror(-r));
	}
	log_info("vnc: serving the display on %s", path);
	*out = v;
	return 0;
}

void vnc_stop(struct vnc *v)
{
	if (!v)
		return;
	__atomic_store_n(&v->stop, true, __ATOMIC_RELEASE);
	pthread_join(v->thread, NULL);
	vnc_free(v);
}
