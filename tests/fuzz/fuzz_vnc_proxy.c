/* libFuzzer target: petreld's VNC relay (src/manager/web/web_rfb.c), both of its parsers.
 * The first byte picks: even, a viewer's half of the stream (rfb_filter_feed, read-only when
 * bit 1 is set) cut into pieces of the sizes the next bytes say, as a WebSocket's messages or a
 * socket's reads would cut it; odd, a worker's answers to a screenshot's client (rfb_read_frame)
 * read from the rest. Checks: the filter never writes more than it was given and the bytes it
 * kept (RFB_FILTER_SLACK), a read-only
 * viewer's input never passes (every message type byte it lets through after the handshake is
 * one of the pass list, at a message boundary: replayed through a second filter, the output is
 * accepted unchanged), and a frame's size is what it says; the frame is then shrunk to a
 * thumbnail's width (rfb_frame_shrink) of the first byte's upper bits. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/web/web_rfb.h"

struct reader {
	const uint8_t *p;
	size_t n;
};

static int rd(void *ctx, void *buf, size_t len)
{
	struct reader *r = ctx;
	if (len > r->n)
		return -ECONNRESET;
	memcpy(buf, r->p, len);
	r->p += len, r->n -= len;
	return 0;
}

static int wr(void *ctx, const void *buf, size_t len)
{
	(void)ctx;
	volatile uint8_t sink = len ? ((const uint8_t *)buf)[len - 1] : 0;
	(void)sink;
	return 0;
}

static void filter(const uint8_t *data, size_t size, bool read_only)
{
	struct rfb_filter f, again;
	rfb_filter_init(&f, read_only);
	rfb_filter_init(&again, read_only);
	uint8_t *out = malloc(size + RFB_FILTER_SLACK), *out2 = malloc(size + 2 * RFB_FILTER_SLACK);
	if (!out || !out2)
		abort();
	size_t total = 0;
	const uint8_t *cuts = data;
	size_t ncuts = size > 8 ? 8 : size, c = 0;
	data += ncuts, size -= ncuts;
	while (size) {
		size_t k = ncuts ? (size_t)cuts[c++ % ncuts] + 1 : size;
		if (k > size)
			k = size;
		const char *why = NULL;
		ssize_t n = rfb_filter_feed(&f, data, k, out, &why);
		if (n < 0) {
			if (n != -EPROTO || !why)
				abort();
			break;
		}
		if ((size_t)n > k + RFB_FILTER_SLACK)
			abort();
		/* what passed is a clean stream: a second filter takes it whole and changes nothing
		 * (no input of a read-only viewer, no extended clipboard, the shared flag set) */
		const char *why2 = NULL;
		ssize_t n2 = rfb_filter_feed(&again, out, (size_t)n, out2, &why2);
		if (n2 != n || memcmp(out, out2, (size_t)n))
			abort();
		if (read_only && again.dropped)
			abort();
		total += (size_t)n;
		data += k, size -= k;
	}
	(void)total;
	free(out);
	free(out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++, size--;
	if (!(mode & 1)) {
		filter(data, size, mode & 2);
		return 0;
	}
	struct reader r = { data, size };
	struct rfb_io io = { rd, wr, &r };
	struct rfb_frame f = { 0 };
	char err[256];
	if (rfb_read_frame(&io, &f, err, sizeof(err)) == 0) {
		if (!f.width || !f.height || f.width > RFB_MAX_DIM || f.height > RFB_MAX_DIM)
			abort();
		volatile uint8_t sink = f.pixels[(size_t)f.width * f.height * 4 - 1];
		/* the list's thumbnail of it: a width from the first byte's upper bits */
		uint32_t tw = RFB_THUMB_MIN_W + (mode >> 1) * 8u, w0 = f.width, h0 = f.height;
		if (rfb_frame_shrink(&f, tw) == 0) {
			if (tw < w0 ? f.width != tw || !f.height || f.height > h0 : f.width != w0 || f.height != h0)
				abort();
			sink = f.pixels[(size_t)f.width * f.height * 4 - 1];
		}
		(void)sink;
		free(f.pixels);
	} else if (!err[0]) {
		abort();
	}
	return 0;
}
