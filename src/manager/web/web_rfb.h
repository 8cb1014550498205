/* The RFB (VNC) protocol as petreld sees it between a viewer and a worker's VNC server
 * (docs/display.md#petreld): the viewer's half of the stream, checked and passed on message by
 * message (a read-only viewer's input dropped, sizes bounded), and a frame read as a client for
 * GET /vms/NAME/screenshot. Both parse bytes from the network or a worker: fuzzed
 * (tests/fuzz/fuzz_vnc_proxy.c). */
#ifndef PETREL_MANAGER_WEB_RFB_H
#define PETREL_MANAGER_WEB_RFB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RFB_MAX_ENCODINGS 64        /* a SetEncodings' list (noVNC sends about 20) */
#define RFB_MAX_CUT_TEXT 65536      /* a ClientCutText's text */
#define RFB_MAX_DIM 8192            /* a screenshot's width and height */

/* The viewer's half: the protocol version (12 bytes, 3.7 or 3.8), the security type (1: none,
 * petreld has authenticated the viewer), ClientInit (its shared flag forced on: a viewer never
 * disconnects another), then messages: SetPixelFormat, SetEncodings (the extended clipboard
 * taken out of it), FramebufferUpdateRequest pass; KeyEvent, PointerEvent, ClientCutText and QEMU's extended key event pass for an admin
 * and are dropped for a read-only viewer; anything else ends the connection. */
struct rfb_filter {
	bool read_only;
	uint8_t state;              /* RF_* (web_rfb.c) */
	uint8_t msg[20];            /* the current message's fixed part so far */
	size_t have, need;          /* bytes in msg, bytes its fixed part has (0: not known yet) */
	uint32_t rest;              /* its variable part still to come */
	uint32_t encodings;         /* a SetEncodings' encodings still to come */
	bool drop;                  /* the current message is not passed on */
	uint64_t dropped;           /* input messages dropped (read-only) */
};

void rfb_filter_init(struct rfb_filter *f, bool read_only);
/* n bytes from the viewer: what goes on to the server is written to out (room for n +
 * RFB_FILTER_SLACK bytes: a message's fixed part goes out whole once complete, with the bytes
 * of it that earlier calls kept). The number of bytes written, or -EPROTO with *why. */
#define RFB_FILTER_SLACK 20
ssize_t rfb_filter_feed(struct rfb_filter *f, const uint8_t *in, size_t n, uint8_t *out, const char **why);

/* A screenshot: an RFB client's session over io (read exactly len bytes: 0 or -errno; write
 * len bytes: 0 or -errno), the frame in XRGB8888 (malloc'd, width * height * 4 bytes). */
struct rfb_io {
	int (*read)(void *ctx, void *buf, size_t len);
	int (*write)(void *ctx, const void *buf, size_t len);
	void *ctx;
};
struct rfb_frame {
	uint32_t width, height;
	uint8_t *pixels;
};
int rfb_read_frame(const struct rfb_io *io, struct rfb_frame *out, char *err, size_t errlen);
/* A thumbnail: f scaled down to width w (and its height in proportion, at least 1), each pixel
 * the average of its box of f's. w >= f's width, or 0: f unchanged. 0, or -ENOMEM. */
#define RFB_THUMB_MIN_W 16
int rfb_frame_shrink(struct rfb_frame *f, uint32_t w);

#endif
