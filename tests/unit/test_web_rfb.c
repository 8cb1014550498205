/* petreld's RFB filter (src/manager/web/web_rfb.c): what passes from a viewer to the worker, by
 * role, in any cut of the stream; what ends the viewer's connection. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manager/web/web_rfb.h"
#include "unit.h"

static const uint8_t hs[] = "RFB 003.008\n\x01\x00";   /* version, security none, ClientInit unshared */

/* SetEncodings {Raw, ExtendedClipboard, QEMU key}, a request, a key, a pointer, cut text "hi",
 * a QEMU key event */
static const uint8_t msgs[] = {
	2, 0, 0, 3, 0, 0, 0, 0, 0xc0, 0xa1, 0xe5, 0xce, 0xff, 0xff, 0xfe, 0xfe,
	3, 0, 0, 0, 0, 0, 1, 0, 1, 0,
	4, 1, 0, 0, 0, 0, 0, 0x61,
	5, 1, 0, 10, 0, 20,
	6, 0, 0, 0, 0, 0, 0, 2, 'h', 'i',
	255, 0, 0, 1, 0, 0, 0, 0x61, 0, 0, 0, 0x1e,
};

/* The whole stream cut into pieces of `cut` bytes: the bytes passed, or a negative errno. */
static ssize_t feed(struct rfb_filter *f, const uint8_t *in, size_t n, size_t cut, uint8_t *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i += cut) {
		size_t k = n - i < cut ? n - i : cut;
		const char *why;
		ssize_t r = rfb_filter_feed(f, in + i, k, out + o, &why);
		if (r < 0)
			return r;
		o += (size_t)r;
	}
	return (ssize_t)o;
}

TEST(admin_passes_input_readonly_does_not)
{
	uint8_t in[sizeof(hs) - 1 + sizeof(msgs)], out[sizeof(in) + RFB_FILTER_SLACK * 64];
	memcpy(in, hs, sizeof(hs) - 1);
	memcpy(in + sizeof(hs) - 1, msgs, sizeof(msgs));
	for (size_t cut = 1; cut <= sizeof(in); cut++) {
		struct rfb_filter f;
		rfb_filter_init(&f, false);
		ssize_t n = feed(&f, in, sizeof(in), cut, out);
		CHECK_EQ(n, (ssize_t)sizeof(in));
		CHECK_EQ(out[13], 1);                    /* shared, forced */
		CHECK_EQ(out[14 + 8] | out[14 + 9] | out[14 + 10] | out[14 + 11], 0); /* the clipboard: Raw */
		CHECK(!memcmp(out + 14 + 12, msgs + 12, sizeof(msgs) - 12));
		rfb_filter_init(&f, true);
		n = feed(&f, in, sizeof(in), cut, out);
		CHECK_EQ(n, 14 + 16 + 10);               /* the handshake, SetEncodings, the request */
		CHECK_EQ(out[14 + 16], 3);
		CHECK_EQ(f.dropped, 4u);
	}
}

TEST(refused)
{
	static const struct {
		const char *what;
		uint8_t bytes[12];
		size_t len;
	} cases[] = {
		{ "unknown type", { 7 }, 1 },
		{ "too many encodings", { 2, 0, 0, 65 }, 4 },
		{ "cut text 64 KiB + 1", { 6, 0, 0, 0, 0, 1, 0, 1 }, 8 },
		{ "extended clipboard", { 6, 0, 0, 0, 0xff, 0xff, 0xff, 0xf0 }, 8 },
		{ "QEMU audio", { 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 12 },
	};
	uint8_t out[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rfb_filter f;
		rfb_filter_init(&f, false);
		const char *why = NULL;
		CHECK_EQ(rfb_filter_feed(&f, hs, sizeof(hs) - 1, out, &why), 14);
		CHECK_EQ(rfb_filter_feed(&f, cases[i].bytes, cases[i].len, out, &why), -EPROTO);
		CHECK(why != NULL);
	}
	struct rfb_filter f;
	const char *why = NULL;
	rfb_filter_init(&f, false);
	CHECK_EQ(rfb_filter_feed(&f, (const uint8_t *)"GET / HTTP/1.1\r\n", 16, out, &why), -EPROTO);
	rfb_filter_init(&f, false);
	CHECK_EQ(rfb_filter_feed(&f, (const uint8_t *)"RFB 003.008\n\x02", 13, out, &why), -EPROTO); /* VNC auth */
}

/* The list's thumbnails: each pixel its box's average, the height in proportion. */
TEST(shrink)
{
	struct rfb_frame f = { 64, 40, calloc(64 * 40, 4) };
	for (uint32_t y = 0; y < 40; y++)
		for (uint32_t x = 0; x < 64; x++)
			f.pixels[(y * 64 + x) * 4 + 2] = y < 20 ? 200 : (x % 2 ? 100 : 0);   /* red */
	CHECK_EQ(rfb_frame_shrink(&f, 0), 0);    /* none asked: as it is */
	CHECK_EQ(rfb_frame_shrink(&f, 64), 0);
	CHECK_EQ(f.width, 64);
	CHECK_EQ(rfb_frame_shrink(&f, 16), 0);
	CHECK_EQ(f.width, 16);
	CHECK_EQ(f.height, 10);
	CHECK_EQ(f.pixels[2], 200);                       /* top: solid */
	CHECK_EQ(f.pixels[(9 * 16 + 3) * 4 + 2], 50);     /* bottom: stripes averaged */
	CHECK_EQ(f.pixels[(9 * 16 + 3) * 4 + 1], 0);
	free(f.pixels);
	/* a line: at least one row */
	struct rfb_frame g = { 300, 2, calloc(300 * 2, 4) };
	CHECK_EQ(rfb_frame_shrink(&g, 16), 0);
	CHECK_EQ(g.width, 16);
	CHECK_EQ(g.height, 1);
	free(g.pixels);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
