/* What a VNC update needs to carry (docs/display.md#what-is-sent): of the lines the dirty log
 * reports (display_changed: every line of each 4 KiB page the guest wrote), the pieces whose
 * pixels really differ from what was sent before. The VNC thread keeps a shadow copy of the
 * shown frame; only the lines reported are compared with it, in tiles of 16 pixels, and a
 * tile that differs is copied into the shadow. The changed tiles of each band of 16 lines
 * become one rectangle per run of tiles, over the band's changed lines. No RFB here: the
 * rectangles go to a callback (vnc.c marks them with the library). */
#ifndef PETREL_UI_VNC_DAMAGE_H
#define PETREL_UI_VNC_DAMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VNC_DAMAGE_TILE_W 16   /* pixels: a tile is 64 bytes of a line */
#define VNC_DAMAGE_BAND_H 16   /* lines: the rectangles' granularity in y */

struct vnc_damage_stats {        /* kept across resets; the owner zeroes them */
	uint64_t looks;              /* vnc_damage_find calls */
	uint64_t lines;              /* lines compared (reported by the dirty log) */
	uint64_t lines_changed;      /* of which at least one tile differed */
	uint64_t tiles;              /* tiles compared */
	uint64_t tiles_changed;      /* tiles that differed (copied, sent) */
	uint64_t rects;              /* rectangles handed to the callback */
	uint64_t cpu_ns;             /* the thread's CPU time in vnc_damage_find */
};

struct vnc_damage {
	uint8_t *shadow;             /* width x 4 bytes a line, height lines */
	uint64_t *cols;              /* one band's changed tiles, a bit each */
	uint32_t width, height;
	struct vnc_damage_stats stats;
};

/* A shadow of the frame at fb (width x height, 32 bpp, stride bytes a line): allocated for the
 * size (again only when it grew) and filled from fb, the one full copy, made when a mode is
 * first shown (everything is sent then). 0, or -ENOMEM (the shadow freed: find reports every
 * line it is given, whole). */
int vnc_damage_reset(struct vnc_damage *dm, const uint8_t *fb, uint32_t width, uint32_t height, uint32_t stride);
void vnc_damage_free(struct vnc_damage *dm);

/* A changed rectangle: x0 <= x < x1, y0 <= y < y1. */
typedef void vnc_damage_rect_fn(void *arg, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1);

/* Compare the lines set in `lines` (height bits, display_changed's) of fb with the shadow, copy
 * the tiles that differ into it and hand their rectangles to fn. The frame may be changing
 * meanwhile (the guest draws): a tile is copied only when it was found different and is then
 * sent from fb after the copy, and a write after the dirty log was read is in the next one, so
 * nothing is lost. Returns the number of rectangles. */
unsigned vnc_damage_find(struct vnc_damage *dm, const uint8_t *fb, uint32_t stride, const uint64_t *lines,
			 vnc_damage_rect_fn *fn, void *arg);

#endif
