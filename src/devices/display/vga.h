/* The legacy VGA of stdvga (QEMU's `-device VGA`): its registers behind the ports 0x3B0-0x3DF
 * (sequencer, CRT controller, graphics controller, attribute controller, DAC, miscellaneous
 * output, input status), its four 64 KiB planes behind the window 0xA0000-0xBFFFF (chain-4,
 * odd/even and planar accesses with the write modes, logical operations, bit mask and latches),
 * and its text mode drawn into pixels (vga_text.c). Pure logic, no lock, no bus: stdvga.c
 * calls it under the device's lock; the fuzz target and tests/unit call it directly.
 *
 * Everything the guest writes is a byte into a register of fixed size (indices masked as the
 * hardware does), so no value can reach outside the state; what is drawn from it is bounded in
 * vga_text_geometry. docs/display.md#stdvga. */
#ifndef PETREL_DEVICES_DISPLAY_VGA_H
#define PETREL_DEVICES_DISPLAY_VGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VGA_PORT_BASE 0x3b0
#define VGA_PORT_LEN 0x30          /* 0x3B0-0x3DF */
#define VGA_WINDOW 0xa0000ull
#define VGA_WINDOW_LEN 0x20000ull  /* 0xA0000-0xBFFFF */
#define VGA_PLANE_SIZE 0x10000u
#define VGA_NSR 8
#define VGA_NGR 9
#define VGA_NCR 0x19
#define VGA_NAR 0x15

/* The registers (saved as they are: section BOCH v2). */
struct vga_regs {
	uint8_t misc, feature, pel_mask;
	uint8_t sr_index, sr[VGA_NSR];       /* index & 7 */
	uint8_t gr_index, gr[VGA_NGR];       /* index & 15: 9..15 name nothing */
	uint8_t cr_index, cr[VGA_NCR];       /* any byte: 0x19.. name nothing */
	uint8_t ar_index, ar[VGA_NAR];       /* index & 0x3f (bit 5: the palette is the screen's) */
	uint8_t ar_flip;                     /* 0: 0x3C0 takes an index, 1: data */
	uint8_t dac_read, dac_write, dac_sub, dac_state;   /* dac_sub 0..2, dac_state 0 or 3 */
	uint8_t dac_cache[3];
	uint8_t palette[256 * 3];            /* 6 bits each */
	uint8_t latch[4];
	uint8_t retrace;                     /* toggles on every input status read */
};

struct vga {
	struct vga_regs r;
	uint8_t planes[4][VGA_PLANE_SIZE] __attribute__((aligned(64)));   /* whole pages (a saved state scans them) */
};

/* Power-on: everything 0, the mask 0xff (the VGA BIOS programs the rest). */
void vga_init(struct vga *v);
/* A byte at port VGA_PORT_BASE + off (off < VGA_PORT_LEN). */
uint8_t vga_port_read(struct vga *v, unsigned off);
void vga_port_write(struct vga *v, unsigned off, uint8_t val);
/* A byte at VGA_WINDOW + off (off < VGA_WINDOW_LEN), as the graphics controller maps it. */
uint8_t vga_mem_read(struct vga *v, uint32_t off);
void vga_mem_write(struct vga *v, uint32_t off, uint8_t val);
/* Whether the window is mapped 64 KiB at 0xA0000 (where VBE's banks show). */
bool vga_window_is_a0000_64k(const struct vga *v);
/* A saved register file against what the ports can make: 0 or -EINVAL and why. */
int vga_check(const struct vga_regs *r, char *err, size_t errlen);

/* ---- text mode (vga_text.c) ---- */

#define VGA_TEXT_MAX_WIDTH 2048
#define VGA_TEXT_MAX_HEIGHT 1536

struct vga_text_geom {
	uint32_t cols, rows;       /* characters */
	uint32_t cw, ch;           /* a cell's pixels (9 or 8 wide, doubled at half dot clock) */
	uint32_t width, height;    /* the frame's pixels */
	bool blank;                /* the screen is off (SR1 bit 5): drawn black */
};

/* The text screen the registers describe: 0 with g filled; 1 when the VGA is in a graphics
 * mode or its attribute controller does not show the palette (not drawn); -EINVAL with why
 * for a geometry past the bounds. */
int vga_text_geometry(const struct vga *v, struct vga_text_geom *g, char *why, size_t whylen);
/* Draw pixel line y (< g->height) into out (g->width XRGB8888 pixels). */
void vga_text_line(const struct vga *v, const struct vga_text_geom *g, uint32_t y, uint32_t *out);

#endif
