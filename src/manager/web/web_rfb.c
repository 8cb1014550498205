/* RFB's viewer half checked and a frame read (web_rfb.h). RFB 3.8 (RFC 6143): big-endian
 * numbers; the client's messages by their first byte. */
#include "manager/web/web_rfb.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { RF_VERSION, RF_SECURITY, RF_INIT, RF_MSG };

/* client-to-server message types (RFC 6143 7.5) and QEMU's */
enum {
	MSG_SET_PIXEL_FORMAT = 0,
	MSG_SET_ENCODINGS = 2,
	MSG_UPDATE_REQUEST = 3,
	MSG_KEY = 4,
	MSG_POINTER = 5,
	MSG_CUT_TEXT = 6,
	MSG_QEMU = 255,
};

#define RFB_ENCODING_EXT_CLIPBOARD 0xc0a1e5ceu

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void rfb_filter_init(struct rfb_filter *f, bool read_only)
{
	memset(f, 0, sizeof(*f));
	f->read_only = read_only;
	f->state = RF_VERSION;
	f->need = 12;
}

/* The fixed part of the message whose first byte (and, for some, more) is in f->msg: its length,
 * 0 when more bytes are needed to know, or -EPROTO. */
static int fixed_len(struct rfb_filter *f, const char **why)
{
	switch (f->msg[0]) {
	case MSG_SET_PIXEL_FORMAT: return 20;
	case MSG_SET_ENCODINGS: return 4;
	case MSG_UPDATE_REQUEST: return 10;
	case MSG_KEY: return 8;
	case MSG_POINTER: return 6;
	case MSG_CUT_TEXT: return 8;
	case MSG_QEMU: return 12;
	default:
		*why = "a VNC message of a type the server does not take";
		return -EPROTO;
	}
}

/* The fixed part is complete: check it, decide whether it passes, and how much follows. */
static int message_done(struct rfb_filter *f, const char **why)
{
	uint8_t t = f->msg[0];
	f->rest = 0;
	f->drop = f->read_only && (t == MSG_KEY || t == MSG_POINTER || t == MSG_CUT_TEXT || t == MSG_QEMU);
	if (t == MSG_SET_ENCODINGS) {
		uint32_t n = be16(f->msg + 2);
		if (n > RFB_MAX_ENCODINGS) {
			*why = "a SetEncodings with too many encodings";
			return -EPROTO;
		}
		f->encodings = n;   /* taken one by one (RF_ENCODING) */
	} else if (t == MSG_CUT_TEXT) {
		uint32_t len = be32(f->msg + 4);
		if (len > RFB_MAX_CUT_TEXT) {   /* the extended clipboard's negative lengths too */
			*why = "a ClientCutText too long (64 KiB at most; no extended clipboard)";
			return -EPROTO;
		}
		f->rest = len;
	} else if (t == MSG_QEMU && f->msg[1] != 0) {
		*why = "a QEMU client message other than the extended key event";
		return -EPROTO;
	}
	if (f->drop)
		f->dropped++;
	return 0;
}

ssize_t rfb_filter_feed(struct rfb_filter *f, const uint8_t *in, size_t n, uint8_t *out, const char **why)
{
	size_t o = 0;
	while (n) {
		if (f->rest) {   /* a message's variable part: passed or dropped as its head was */
			size_t k = n < f->rest ? n : f->rest;
			if (!f->drop) {
				memcpy(out + o, in, k);
				o += k;
			}
			in += k, n -= k, f->rest -= (uint32_t)k;
			continue;
		}
		f->msg[f->have++] = *in++;
		n--;
		if (f->state == RF_MSG && f->encodings) {   /* a SetEncodings' list, 4 bytes each */
			if (f->have < 4)
				continue;
			/* the extended clipboard (zlib-compressed, up to 20 MiB inflated in the worker)
			 * is not offered: the encoding becomes Raw, which every viewer has already */
			if (be32(f->msg) == RFB_ENCODING_EXT_CLIPBOARD)
				memset(f->msg, 0, 4);
			memcpy(out + o, f->msg, 4);
			o += 4;
			f->have = 0;
			f->encodings--;
			continue;
		}
		if (f->state == RF_MSG && f->have == 1) {
			int len = fixed_len(f, why);
			if (len < 0)
				return len;
			f->need = (size_t)len;
		}
		if (f->have < f->need)
			continue;
		switch (f->state) {
		case RF_VERSION:
			if (memcmp(f->msg, "RFB 003.00", 10) || (f->msg[10] != '7' && f->msg[10] != '8') || f->msg[11] != '\n') {
				*why = "not an RFB 3.7 or 3.8 viewer";
				return -EPROTO;
			}
			f->state = RF_SECURITY;
			f->need = 1;
			break;
		case RF_SECURITY:
			if (f->msg[0] != 1) {
				*why = "a security type other than none (petreld authenticates viewers)";
				return -EPROTO;
			}
			f->state = RF_INIT;
			f->need = 1;
			break;
		case RF_INIT:
			f->msg[0] = 1;   /* shared */
			f->state = RF_MSG;
			f->need = 0;
			break;
		default: {
			int e = message_done(f, why);
			if (e < 0)
				return e;
		}
		}
		if (!f->drop) {
			memcpy(out + o, f->msg, f->have);
			o += f->have;
		}
		f->have = 0;
		if (f->state == RF_MSG)
			f->need = 0;
		if (!f->rest)
			f->drop = false;
	}
	return (ssize_t)o;
}

/* ---- a frame, as a client ---- */

static int rd(const struct rfb_io *io, void *buf, size_t len)
{
	return io->read(io->ctx, buf, len);
}

/* len bytes read and thrown away */
static int skip(const struct rfb_io *io, uint64_t len)
{
	uint8_t buf[4096];
	while (len) {
		size_t k = len < sizeof(buf) ? (size_t)len : sizeof(buf);
		int e = rd(io, buf, k);
		if (e < 0)
			return e;
		len -= k;
	}
	return 0;
}

static int handshake(const struct rfb_io *io, uint32_t *w, uint32_t *h, char *err, size_t errlen)
{
	uint8_t b[24];
	/* our version first, before the server's greeting: the worker's libvncserver waits 100 ms
	 * on each new connection for a client that speaks first (its WebSocket and TLS sniff),
	 * its VNC thread blocked meanwhile; a version line is neither, and is read as our reply */
	int e = io->write(io->ctx, "RFB 003.008\n", 12);
	if (e < 0)
		return error_set(err, errlen, e, "RFB handshake: %s", strerror(-e));
	if ((e = rd(io, b, 12)) < 0)
		return error_set(err, errlen, e, "no RFB greeting: %s", strerror(-e));
	if (memcmp(b, "RFB 003.008\n", 12))
		return error_set(err, errlen, -EPROTO, "the server is not RFB 3.8");
	if ((e = rd(io, b, 1)) < 0)
		return error_set(err, errlen, e, "RFB handshake: %s", strerror(-e));
	uint8_t ntypes = b[0], types[255];
	if (!ntypes || (e = rd(io, types, ntypes)) < 0)
		return error_set(err, errlen, e < 0 ? e : -EPROTO, "RFB handshake: no security types");
	if (!memchr(types, 1, ntypes))
		return error_set(err, errlen, -EPROTO, "the VNC server wants authentication");
	const uint8_t none = 1, shared = 1;
	if ((e = io->write(io->ctx, &none, 1)) < 0 || (e = rd(io, b, 4)) < 0)
		return error_set(err, errlen, e, "RFB handshake: %s", strerror(-e));
	if (be32(b))
		return error_set(err, errlen, -EACCES, "the VNC server refused the connection");
	if ((e = io->write(io->ctx, &shared, 1)) < 0 || (e = rd(io, b, 24)) < 0)
		return error_set(err, errlen, e, "RFB ServerInit: %s", strerror(-e));
	*w = be16(b), *h = be16(b + 2);
	uint32_t name_len = be32(b + 20);
	if (name_len > 4096 || (e = skip(io, name_len)) < 0)
		return error_set(err, errlen, e < 0 ? e : -EPROTO, "RFB ServerInit: a bad desktop name");
	if (!*w || !*h || *w > RFB_MAX_DIM || *h > RFB_MAX_DIM)
		return error_set(err, errlen, -EPROTO, "RFB ServerInit: a screen of %ux%u", *w, *h);
	return 0;
}

/* SetPixelFormat (32 bpp, depth 24, little endian, true colour, XRGB), SetEncodings (raw and
 * DesktopSize), a full FramebufferUpdateRequest. */
static int ask_frame(const struct rfb_io *io, uint32_t w, uint32_t h)
{
	uint8_t m[20 + 12 + 10] = { 0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
				    2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21,
				    3, 0, 0, 0, 0, 0, (uint8_t)(w >> 8), (uint8_t)w, (uint8_t)(h >> 8), (uint8_t)h };
	return io->write(io->ctx, m, sizeof(m));
}

int rfb_read_frame(const struct rfb_io *io, struct rfb_frame *out, char *err, size_t errlen)
{
	uint32_t w, h;
	int e = handshake(io, &w, &h, err, errlen);
	if (e < 0)
		return e;
	if ((e = ask_frame(io, w, h)) < 0)
		return error_set(err, errlen, e, "RFB request: %s", strerror(-e));
	uint8_t *px = calloc((size_t)w * h, 4);
	if (!px)
		return error_oom(err, errlen);
	for (unsigned msgs = 0; msgs < 64; msgs++) {
		uint8_t b[16];
		if ((e = rd(io, b, 1)) < 0)
			break;
		if (b[0] == 2)   /* Bell */
			continue;
		if (b[0] == 3) { /* ServerCutText */
			if ((e = rd(io, b, 7)) < 0 || (e = be32(b + 3) > (1u << 20) ? -EPROTO : skip(io, be32(b + 3))) < 0)
				break;
			continue;
		}
		if (b[0] != 0 || (e = rd(io, b, 3)) < 0) {   /* FramebufferUpdate */
			e = e < 0 ? e : -EPROTO;
			break;
		}
		uint32_t nrects = be16(b + 1);
		bool resized = false;
		for (uint32_t i = 0; i < nrects && e == 0; i++) {
			if ((e = rd(io, b, 12)) < 0)
				break;
			uint32_t x = be16(b), y = be16(b + 2), rw = be16(b + 4), rh = be16(b + 6);
			int32_t enc = (int32_t)be32(b + 8);
			if (enc == -223) {   /* DesktopSize: the screen changed under us; ask again */
				if (!rw || !rh || rw > RFB_MAX_DIM || rh > RFB_MAX_DIM) {
					e = -EPROTO;
					break;
				}
				uint8_t *n = realloc(px, (size_t)rw * rh * 4);
				if (!n) {
					e = -ENOMEM;
					break;
				}
				px = n, w = rw, h = rh, resized = true;
				memset(px, 0, (size_t)w * h * 4);
				continue;
			}
			if (enc != 0 || x + rw > w || y + rh > h) {
				e = -EPROTO;
				break;
			}
			for (uint32_t row = 0; row < rh && e == 0; row++)
				e = rd(io, px + ((size_t)(y + row) * w + x) * 4, (size_t)rw * 4);
		}
		if (e < 0)
			break;
		if (resized && (e = ask_frame(io, w, h)) < 0)
			break;
		if (!resized) {
			out->width = w, out->height = h, out->pixels = px;
			return 0;
		}
	}
	free(px);
	if (e == -ENOMEM)
		return error_oom(err, errlen);
	return error_set(err, errlen, e < 0 ? e : -EPROTO, "RFB frame: %s",
			 e < 0 && e != -EPROTO ? strerror(-e) : "a message petreld did not expect");
}

int rfb_frame_shrink(struct rfb_frame *f, uint32_t w)
{
	if (!w || w >= f->width)
		return 0;
	uint32_t h = (uint32_t)((uint64_t)f->height * w / f->width);
	h = h ? h : 1;
	uint8_t *out = malloc((size_t)w * h * 4);
	uint32_t *sum = calloc((size_t)w * 4, sizeof(uint32_t)), *col = malloc((size_t)f->width * sizeof(uint32_t));
	if (!out || !sum || !col) {
		free(out), free(sum), free(col);
		return -ENOMEM;
	}
	for (uint32_t x = 0; x < f->width; x++)   /* the output column of each input column */
		col[x] = (uint32_t)((uint64_t)x * w / f->width);
	for (uint32_t yo = 0, y = 0; yo < h; yo++) {
		uint32_t y1 = (uint32_t)((uint64_t)(yo + 1) * f->height / h);
		memset(sum, 0, (size_t)w * 4 * sizeof(uint32_t));
		for (; y < y1; y++) {   /* a box has at most 8192 x 8192 / 16 pixels: no overflow */
			const uint8_t *p = f->pixels + (size_t)y * f->width * 4;
			for (uint32_t x = 0; x < f->width; x++, p += 4) {
				uint32_t *s = sum + col[x] * 4;
				s[0] += p[0], s[1] += p[1], s[2] += p[2], s[3]++;
			}
		}
		uint8_t *o = out + (size_t)yo * w * 4;
		for (uint32_t x = 0; x < w; x++, o += 4) {
			uint32_t *s = sum + x * 4, n = s[3] ? s[3] : 1;
			o[0] = (uint8_t)(s[0] / n), o[1] = (uint8_t)(s[1] / n), o[2] = (uint8_t)(s[2] / n), o[3] = 0;
		}
	}
	free(sum);
	free(col);
	free(f->pixels);
	f->pixels = out, f->width = w, f->height = h;
	return 0;
}
