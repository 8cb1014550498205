/* stdvga's text mode drawn into pixels: the characters (plane 0) and attributes (plane 1)
 * from the CRT controller's start address, line by line, in petrel's font (vga_font.h), the
 * colours through the attribute controller's palette and the DAC, the cursor steady (neither
 * the cursor nor blinking characters blink: a drawn screen does not change by itself). */
#include "devices/display/vga.h"
#include "devices/display/vga_font.h"
#include "util/error.h"

#include <errno.h>

enum { AR_MODE = 0x10, AR_COLOR_PAGE = 0x14 };

int vga_text_geometry(const struct vga *v, struct vga_text_geom *g, char *why, size_t whylen)
{
	const struct vga_regs *r = &v->r;
	*g = (struct vga_text_geom){ 0 };
	if ((r->gr[6] & 1) || (r->ar[AR_MODE] & 1) || !(r->ar_index & 0x20))
		return 1;   /* a graphics mode, or the palette is not the screen's (power-on, a mode being set) */
	uint32_t cols = (uint32_t)r->cr[1] + 1, ch = (r->cr[9] & 0x1f) + 1u;
	uint32_t vde = r->cr[0x12] | (uint32_t)(r->cr[7] & 0x02) << 7 | (uint32_t)(r->cr[7] & 0x40) << 3;
	uint32_t cw = (r->sr[1] & 1) ? 8 : 9;
	if (r->sr[1] & 0x08)   /* half dot clock: 40 columns, each pixel twice */
		cw *= 2;
	uint32_t rows = (vde + 1) / ch;
	if (!rows || cols * cw > VGA_TEXT_MAX_WIDTH || rows * ch > VGA_TEXT_MAX_HEIGHT)
		return error_set(why, whylen, -EINVAL, "a text mode of %u x %u characters of %u x %u pixels", cols, rows,
				 cw, ch);
	*g = (struct vga_text_geom){ cols, rows, cw, ch, cols * cw, rows * ch,
				     (r->sr[1] & 0x20) != 0 };
	return 0;
}

/* An attribute colour (0..15) as XRGB8888: the attribute palette, the colour page, the DAC. */
static uint32_t color(const struct vga_regs *r, unsigned c)
{
	unsigned i = r->ar[c & 15];
	if (r->ar[AR_MODE] & 0x80)
		i = (unsigned)(r->ar[AR_COLOR_PAGE] & 0x0f) << 4 | (i & 0x0f);
	else
		i = (unsigned)(r->ar[AR_COLOR_PAGE] & 0x0c) << 4 | (i & 0x3f);
	i &= r->pel_mask;
	const uint8_t *p = &r->palette[i * 3];
	uint32_t red = (uint32_t)(p[0] << 2 | p[0] >> 4), green = (uint32_t)(p[1] << 2 | p[1] >> 4),
		 blue = (uint32_t)(p[2] << 2 | p[2] >> 4);
	return red << 16 | green << 8 | blue;
}

void vga_text_line(const struct vga *v, const struct vga_text_geom *g, uint32_t y, uint32_t *out)
{
	const struct vga_regs *r = &v->r;
	if (g->blank) {
		for (uint32_t x = 0; x < g->width; x++)
			out[x] = 0;
		return;
	}
	uint32_t row = y / g->ch, line = y % g->ch;
	uint32_t start = (uint32_t)r->cr[0x0c] << 8 | r->cr[0x0d], pitch = (uint32_t)r->cr[0x13] * 2;
	uint32_t cursor = (uint32_t)r->cr[0x0e] << 8 | r->cr[0x0f];
	bool cursor_on = !(r->cr[0x0a] & 0x20) && line >= (r->cr[0x0a] & 0x1fu) && line <= (r->cr[0x0b] & 0x1fu);
	bool blink = r->ar[AR_MODE] & 0x08, line_graphics = r->ar[AR_MODE] & 0x04;
	bool wide = r->sr[1] & 0x08;
	uint32_t cell = wide ? g->cw / 2 : g->cw;
	/* the font's row for this line of a cell of ch lines */
	uint32_t frow = g->ch == VGA_FONT_HEIGHT ? line : line * VGA_FONT_HEIGHT / g->ch;
	for (uint32_t c = 0; c < g->cols; c++) {
		uint32_t a = (start + row * pitch + c) & (VGA_PLANE_SIZE - 1);
		uint8_t chr = v->planes[0][a], attr = v->planes[1][a];
		uint32_t fg = color(r, attr & 15), bg = color(r, blink ? (attr >> 4) & 7 : attr >> 4);
		unsigned bits = vga_font_8x16[chr][frow];
		if (cursor_on && a == (cursor & (VGA_PLANE_SIZE - 1)))
			bits = 0xff;
		/* the ninth column repeats the eighth for the line-drawing characters */
		if (cell == 9)
			bits = bits << 1 | (line_graphics && chr >= 0xc0 && chr <= 0xdf ? bits & 1 : 0);
		uint32_t *o = out + c * g->cw;
		for (uint32_t x = 0; x < cell; x++) {
			uint32_t px = (bits >> (cell - 1 - x)) & 1 ? fg : bg;
			if (wide) {
				o[2 * x] = px;
				o[2 * x + 1] = px;
			} else {
				o[x] = px;
			}
		}
	}
}
