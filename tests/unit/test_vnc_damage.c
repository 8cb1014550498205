/* The VNC server's compare with its shadow of the frame (src/ui/vnc_damage.c): of the lines the
 * dirty log reports, only the 16-pixel tiles that differ are marked and copied, as rectangles a
 * band of 16 lines tall at most; lines the log does not report are not looked at. */
#include "ui/vnc_damage.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define MAX_RECTS 64

struct rects {
	unsigned n;
	uint32_t r[MAX_RECTS][4];
};

static void collect(void *arg, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1)
{
	struct rects *rs = arg;
	if (rs->n < MAX_RECTS) {
		rs->r[rs->n][0] = x0, rs->r[rs->n][1] = y0, rs->r[rs->n][2] = x1, rs->r[rs->n][3] = y1;
	}
	rs->n++;
}

static bool has_rect(const struct rects *rs, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1)
{
	for (unsigned i = 0; i < rs->n && i < MAX_RECTS; i++)
		if (rs->r[i][0] == x0 && rs->r[i][1] == y0 && rs->r[i][2] == x1 && rs->r[i][3] == y1)
			return true;
	return false;
}

static uint32_t *px(uint8_t *fb, uint32_t stride, uint32_t x, uint32_t y)
{
	return (uint32_t *)(fb + (size_t)y * stride) + x;
}

static void set_line(uint64_t *lines, uint32_t y)
{
	lines[y / 64] |= 1ull << (y % 64);
}

/* A w x h frame with a pattern (each pixel different), stride bytes a line. */
static uint8_t *frame(uint32_t w, uint32_t h, uint32_t stride)
{
	uint8_t *fb = calloc(h, stride);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < w; x++)
			*px(fb, stride, x, y) = y * 4096 + x;
	return fb;
}

/* A patterned frame and a shadow of it: the frame. */
static uint8_t *start(struct vnc_damage *dm, uint32_t w, uint32_t h, uint32_t stride)
{
	uint8_t *fb = frame(w, h, stride);
	memset(dm, 0, sizeof(*dm));
	CHECK_EQ(vnc_damage_reset(dm, fb, w, h, stride), 0);
	return fb;
}

static bool shadow_matches(const struct vnc_damage *dm, const uint8_t *fb, uint32_t stride)
{
	for (uint32_t y = 0; y < dm->height; y++)
		if (memcmp(dm->shadow + (size_t)y * dm->width * 4, fb + (size_t)y * stride, dm->width * 4))
			return false;
	return true;
}

TEST(rewritten_unchanged_is_nothing)
{
	uint32_t w = 64, h = 48, st = w * 4;
	struct vnc_damage dm;
	uint8_t *fb = start(&dm, w, h, st);
	CHECK(shadow_matches(&dm, fb, st));
	uint64_t lines[1] = { (1ull << h) - 1 };   /* every line reported, none changed */
	struct rects rs = { 0 };
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 0);
	CHECK_EQ(rs.n, 0);
	CHECK_EQ(dm.stats.lines, h);
	CHECK_EQ(dm.stats.lines_changed, 0);
	CHECK_EQ(dm.stats.tiles_changed, 0);
	vnc_damage_free(&dm);
	free(fb);
}

TEST(one_pixel_one_tile)
{
	uint32_t w = 64, h = 48, st = w * 4;
	struct vnc_damage dm;
	uint8_t *fb = start(&dm, w, h, st);
	*px(fb, st, 37, 20) = 0xffffff;
	uint64_t lines[1] = { 0 };
	set_line(lines, 20);
	set_line(lines, 21);   /* the page held it too: reported, unchanged */
	struct rects rs = { 0 };
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 1);
	CHECK(has_rect(&rs, 32, 20, 48, 21));
	CHECK(shadow_matches(&dm, fb, st));   /* copied */
	CHECK_EQ(dm.stats.lines, 2);
	CHECK_EQ(dm.stats.lines_changed, 1);
	CHECK_EQ(dm.stats.tiles_changed, 1);
	/* the same lines again, nothing new: nothing */
	rs.n = 0;
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 0);
	vnc_damage_free(&dm);
	free(fb);
}

TEST(band_spans_its_changed_lines_and_runs_of_tiles)
{
	uint32_t w = 128, h = 40, st = w * 4;
	struct vnc_damage dm;
	uint8_t *fb = start(&dm, w, h, st);
	/* band 0 (lines 0-15): lines 3 and 12, tiles 0-1 and 5; band 2 (32-39): line 39, tile 7 */
	*px(fb, st, 0, 3) ^= 1;
	*px(fb, st, 31, 12) ^= 1;
	*px(fb, st, 80, 12) ^= 1;
	*px(fb, st, 127, 39) ^= 1;
	uint64_t lines[1] = { (1ull << h) - 1 };
	struct rects rs = { 0 };
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 3);
	CHECK(has_rect(&rs, 0, 3, 32, 13));
	CHECK(has_rect(&rs, 80, 3, 96, 13));
	CHECK(has_rect(&rs, 112, 39, 128, 40));
	CHECK(shadow_matches(&dm, fb, st));
	vnc_damage_free(&dm);
	free(fb);
}

TEST(unreported_lines_are_not_looked_at)
{
	uint32_t w = 64, h = 32, st = w * 4;
	struct vnc_damage dm;
	uint8_t *fb = start(&dm, w, h, st);
	*px(fb, st, 5, 7) ^= 1;
	uint64_t lines[1] = { 0 };
	set_line(lines, 8);
	struct rects rs = { 0 };
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 0);
	CHECK_EQ(dm.stats.lines, 1);
	CHECK(!shadow_matches(&dm, fb, st));   /* line 7 not copied: the log has not said so */
	lines[0] = 0;
	set_line(lines, 7);
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 1);
	CHECK(has_rect(&rs, 0, 7, 16, 8));
	CHECK(shadow_matches(&dm, fb, st));
	vnc_damage_free(&dm);
	free(fb);
}

TEST(partial_last_tile_and_padded_stride)
{
	uint32_t w = 100, h = 20, st = 512;   /* 6 tiles and 4 pixels; 112 bytes of padding */
	struct vnc_damage dm;
	uint8_t *fb = start(&dm, w, h, st);
	CHECK(shadow_matches(&dm, fb, st));
	*px(fb, st, 99, 19) ^= 1;
	fb[19 * st + 450] ^= 0xff;   /* in the padding: not shown, not compared */
	uint64_t lines[1] = { (1ull << h) - 1 };
	struct rects rs = { 0 };
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 1);
	CHECK(has_rect(&rs, 96, 19, 100, 20));
	CHECK(shadow_matches(&dm, fb, st));
	vnc_damage_free(&dm);
	free(fb);
}

TEST(scroll_leaves_out_what_stayed)
{
	/* a text-like screen scrolled by one band: blank margins and blank rows stay blank */
	uint32_t w = 256, h = 64, st = w * 4;
	uint8_t *fb = calloc(h, st);
	for (uint32_t y = 0; y < h; y++)
		for (uint32_t x = 0; x < 160; x++)
			if (y % 16 >= 3 && y % 16 <= 12)
				*px(fb, st, x, y) = (x * 7 + y / 16 * 13) % 5 ? 0 : 0xc0c0c0;
	struct vnc_damage dm = { 0 };
	CHECK_EQ(vnc_damage_reset(&dm, fb, w, h, st), 0);
	memmove(fb, fb + 16 * st, (size_t)(h - 16) * st);   /* up a text line; the last kept */
	uint64_t lines[1] = { ~0ull };
	struct rects rs = { 0 };
	CHECK_EQ(vnc_damage_find(&dm, fb, st, lines, collect, &rs), 3);
	for (uint32_t b = 0; b < 3; b++)
		CHECK(has_rect(&rs, 0, b * 16 + 3, 160, b * 16 + 13));
	CHECK_EQ(dm.stats.tiles_changed, 3 * 10 * 10);
	CHECK(shadow_matches(&dm, fb, st));
	vnc_damage_free(&dm);
	free(fb);
}

TEST(without_a_shadow_whole_lines)
{
	struct vnc_damage dm = { .width = 64, .height = 40 };   /* as after a failed reset */
	uint8_t fb[64 * 4] = { 0 };
	uint64_t lines[1] = { 0 };
	set_line(lines, 2);
	set_line(lines, 3);
	set_line(lines, 39);
	struct rects rs = { 0 };
	CHECK_EQ(vnc_damage_find(&dm, fb, 256, lines, collect, &rs), 2);
	CHECK(has_rect(&rs, 0, 2, 64, 4));
	CHECK(has_rect(&rs, 0, 39, 64, 40));
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
