/* The pieces of the frame that really changed (vnc_damage.h): the dirty log's lines compared
 * with a shadow of what was sent, tile by tile. */
#include "ui/vnc_damage.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TILE_BYTES (VNC_DAMAGE_TILE_W * 4)

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vnc_damage_free(struct vnc_damage *dm)
{
	free(dm->shadow);
	free(dm->cols);
	dm->shadow = NULL;
	dm->cols = NULL;
}

int vnc_damage_reset(struct vnc_damage *dm, const uint8_t *fb, uint32_t width, uint32_t height, uint32_t stride)
{
	vnc_damage_free(dm);
	dm->width = width;
	dm->height = height;
	size_t row = (size_t)width * 4, tiles = (width + VNC_DAMAGE_TILE_W - 1) / VNC_DAMAGE_TILE_W;
	dm->shadow = malloc(row * height);
	dm->cols = calloc((tiles + 63) / 64, sizeof(uint64_t));
	if (!dm->shadow || !dm->cols) {
		vnc_damage_free(dm);
		return -ENOMEM;
	}
	for (uint32_t y = 0; y < height; y++)
		memcpy(dm->shadow + y * row, fb + (size_t)y * stride, row);
	return 0;
}

static bool line_set(const uint64_t *lines, uint32_t y)
{
	return lines[y / 64] >> (y % 64) & 1;
}

/* Whether n bytes (a tile, 64 but at a line's end) differ: eight words at once. */
static bool tile_differs(const uint8_t *a, const uint8_t *b, size_t n)
{
	if (n != TILE_BYTES)
		return memcmp(a, b, n) != 0;
	uint64_t x = 0;
	for (unsigned i = 0; i < TILE_BYTES / 8; i++) {
		uint64_t u, v;
		memcpy(&u, a + 8 * i, 8);
		memcpy(&v, b + 8 * i, 8);
		x |= u ^ v;
	}
	return x != 0;
}

/* Line y against the shadow: its changed tiles set in dm->cols and copied. Whether any was. */
static bool compare_line(struct vnc_damage *dm, const uint8_t *src, uint32_t y)
{
	size_t row = (size_t)dm->width * 4;
	uint8_t *sh = dm->shadow + y * row;
	dm->stats.lines++;
	if (memcmp(sh, src, row) == 0)   /* the common case of a line rewritten the same: one pass */
		return false;
	bool any = false;
	uint32_t t = 0;
	for (size_t off = 0; off < row; off += TILE_BYTES, t++) {
		size_t n = row - off < TILE_BYTES ? row - off : TILE_BYTES;
		dm->stats.tiles++;
		if (!tile_differs(sh + off, src + off, n))
			continue;
		memcpy(sh + off, src + off, n);
		dm->cols[t / 64] |= 1ull << (t % 64);
		dm->stats.tiles_changed++;
		any = true;
	}
	dm->stats.lines_changed += any;
	return any;
}

/* One band's rectangles: each run of changed tiles over lines y0..y1-1; the tiles cleared. */
static unsigned emit_band(struct vnc_damage *dm, uint32_t y0, uint32_t y1, vnc_damage_rect_fn *fn, void *arg)
{
	uint32_t tiles = (dm->width + VNC_DAMAGE_TILE_W - 1) / VNC_DAMAGE_TILE_W;
	unsigned n = 0;
	for (uint32_t t = 0; t < tiles;) {
		if (!(dm->cols[t / 64] >> (t % 64) & 1)) {
			t++;
			continue;
		}
		uint32_t t0 = t;
		while (t < tiles && (dm->cols[t / 64] >> (t % 64) & 1))
			t++;
		uint32_t x1 = t * VNC_DAMAGE_TILE_W;
		fn(arg, t0 * VNC_DAMAGE_TILE_W, y0, x1 < dm->width ? x1 : dm->width, y1);
		n++;
	}
	memset(dm->cols, 0, (tiles + 63) / 64 * sizeof(uint64_t));
	return n;
}

/* Without a shadow (it could not be allocated): every run of reported lines, whole. */
static unsigned whole_lines(struct vnc_damage *dm, const uint64_t *lines, vnc_damage_rect_fn *fn, void *arg)
{
	unsigned n = 0;
	for (uint32_t y = 0; y < dm->height;) {
		if (!line_set(lines, y)) {
			y++;
			continue;
		}
		uint32_t y0 = y;
		while (y < dm->height && line_set(lines, y))
			y++;
		fn(arg, 0, y0, dm->width, y);
		n++;
	}
	return n;
}

unsigned vnc_damage_find(struct vnc_damage *dm, const uint8_t *fb, uint32_t stride, const uint64_t *lines,
			 vnc_damage_rect_fn *fn, void *arg)
{
	if (!dm->shadow)
		return whole_lines(dm, lines, fn, arg);
	uint64_t t0 = thread_cpu_ns();
	unsigned n = 0;
	for (uint32_t band = 0; band < dm->height; band += VNC_DAMAGE_BAND_H) {
		uint32_t end = band + VNC_DAMAGE_BAND_H < dm->height ? band + VNC_DAMAGE_BAND_H : dm->height;
		uint32_t ymin = end, ymax = 0;
		for (uint32_t y = band; y < end; y++) {
			if (!line_set(lines, y) || !compare_line(dm, fb + (size_t)y * stride, y))
				continue;
			if (y < ymin)
				ymin = y;
			ymax = y;
		}
		if (ymin < end)
			n += emit_band(dm, ymin, ymax + 1, fn, arg);
	}
	dm->stats.looks++;
	dm->stats.rects += n;
	dm->stats.cpu_ns += thread_cpu_ns() - t0;
	return n;
}
