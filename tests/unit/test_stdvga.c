/* Unit tests for stdvga (src/devices/display/stdvga.c, vga.c, vga_text.c): the VGA's ports and
 * planes as a VGA BIOS programs them, text mode drawn in petrel's font and read back cell by
 * cell, the lines a change marks, hostile geometries refused, the DISPI registers through the
 * ports 0x1CE/0x1CF, the VBE bank in the window, and the saved state (BOCH version 2). No KVM:
 * the device off any PCI bus, its ports and window on buses of the test's. */
#include <errno.h>
#include <string.h>

#include "bus/bus.h"
#include "devices/dev_state.h"
#include "devices/display/bochs.h"
#include "devices/display/stdvga.h"
#include "devices/display/vga_font.h"
#include "util/bitmap.h"
#include "util/codec.h"
#include "util/log.h"
#include "unit.h"

struct rig {
	struct bochs b;
	struct bus pio, mmio;
};

static void rig_init(struct rig *r)
{
	char err[256];
	REQUIRE_EQ(bochs_create(&r->b, &(struct bochs_params){ 640, 480, .vga = true }, NULL, NULL, err, sizeof(err)), 0);
	bus_init(&r->pio, "pio");
	bus_init(&r->mmio, "mmio");
	REQUIRE_EQ(stdvga_attach(&r->b, &r->pio, &r->mmio), 0);
}

/* One access on a bus of the rig's; every one must reach the device. */
static uint32_t acc(struct bus *bus, uint64_t addr, uint32_t v, uint32_t len, bool write)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	CHECK(bus_access(bus, addr, d, len, write));
	return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

#define outb(r, port, v) acc(&(r)->pio, port, v, 1, true)
#define inb(r, port) ((uint8_t)acc(&(r)->pio, port, 0, 1, false))
#define outw(r, port, v) acc(&(r)->pio, port, v, 2, true)
#define inw(r, port) ((uint16_t)acc(&(r)->pio, port, 0, 2, false))
#define memb(r, addr, v) acc(&(r)->mmio, addr, v, 1, true)
#define rmemb(r, addr) ((uint8_t)acc(&(r)->mmio, addr, 0, 1, false))

/* Mode 3 (80x25 text, 9x16 cells) as the VGA's reference tables give it, with a grey and a white. */
static void mode3(struct rig *r)
{
	static const uint8_t sr[] = { 0x03, 0x00, 0x03, 0x00, 0x02 };
	static const uint8_t cr[] = { 0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e, 0x00,
				      0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff };
	static const uint8_t gr[] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff };
	static const uint8_t ar[] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39, 0x3a,
				      0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00 };
	outb(r, 0x3c2, 0x67);
	for (unsigned i = 0; i < sizeof(sr); i++)
		outw(r, 0x3c4, (uint16_t)(sr[i] << 8 | i));
	outw(r, 0x3d4, 0x0011);    /* unprotect CR0-7 */
	for (unsigned i = 0; i < sizeof(cr); i++)
		outw(r, 0x3d4, (uint16_t)(cr[i] << 8 | i));
	for (unsigned i = 0; i < sizeof(gr); i++)
		outw(r, 0x3ce, (uint16_t)(gr[i] << 8 | i));
	(void)inb(r, 0x3da);
	for (unsigned i = 0; i < sizeof(ar); i++) {
		outb(r, 0x3c0, (uint8_t)i);
		outb(r, 0x3c0, ar[i]);
	}
	outb(r, 0x3c8, 7);
	outb(r, 0x3c9, 42); outb(r, 0x3c9, 42); outb(r, 0x3c9, 42);
	outb(r, 0x3c8, 63);
	outb(r, 0x3c9, 63); outb(r, 0x3c9, 63); outb(r, 0x3c9, 63);
	outb(r, 0x3c0, 0x20);      /* the palette to the screen */
}

static void put_text(struct rig *r, unsigned col, unsigned row, const char *s, uint8_t attr)
{
	for (unsigned i = 0; s[i]; i++) {
		uint32_t a = 0xb8000 + 2 * (row * 80 + col + i);
		memb(r, a, (uint8_t)s[i]);
		memb(r, a + 1, attr);
	}
}

/* The character cell (col, row) of a 9x16 frame shows, by its glyph; -1 if none matches. */
static int read_cell(const uint8_t *fb, uint32_t stride, unsigned col, unsigned row, uint32_t fg)
{
	for (int c = 0; c < 256; c++) {
		bool ok = true;
		for (unsigned y = 0; y < 16 && ok; y++)
			for (unsigned x = 0; x < 8 && ok; x++) {
				uint32_t px = (uint32_t)pci_get(fb, (row * 16 + y) * stride + (col * 9 + x) * 4, 4);
				ok = (px == fg) == ((vga_font_8x16[c][y] >> (7 - x)) & 1);
			}
		if (ok)
			return c;
	}
	return -1;
}

TEST(stdvga_text_mode)
{
	struct rig r;
	rig_init(&r);
	CHECK_EQ_HEX(pci_get(r.b.pci.st.cfg, 8, 4) >> 8, 0x030000);   /* class VGA */
	struct display_mode m;
	CHECK(bochs_frame(&r.b, &m) == NULL && !m.enabled);         /* power-on: nothing to show */
	mode3(&r);
	outw(&r, 0x3d4, 0x200a);                                     /* cursor off */
	put_text(&r, 0, 0, "SeaBIOS", 0x07);
	put_text(&r, 10, 24, "petrel", 0x0f);
	const uint8_t *fb = bochs_frame(&r.b, &m);
	REQUIRE(fb != NULL);
	CHECK(m.enabled && m.width == 720 && m.height == 400 && m.stride == 2880 && m.bpp == 32);
	const char *want = "SeaBIOS";
	for (unsigned i = 0; i < 7; i++)
		CHECK_EQ(read_cell(fb, m.stride, i, 0, 0xaaaaaa), want[i]);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(read_cell(fb, m.stride, 10 + i, 24, 0xffffff), "petrel"[i]);
	CHECK_EQ(pci_get(fb, 8 * 4, 4), 0);                           /* the ninth column: background */
	/* the lines: all after the mode change, then only the changed row's */
	uint64_t lines[BITMAP_WORDS(400)];
	CHECK_EQ(bochs_changed(&r.b, lines, 400), 400);
	CHECK_EQ(bochs_changed(&r.b, lines, 400), 0);
	put_text(&r, 40, 3, "x", 0x07);
	int n = bochs_changed(&r.b, lines, 400);               /* the lines of row 3 where 'x' has pixels */
	CHECK(n > 4 && n <= 16);
	for (unsigned y = 0; y < 400; y++)
		if (bitmap_test(lines, y))
			CHECK(y >= 48 && y < 64);
	/* reading back the text through the window (odd/even) */
	CHECK_EQ(rmemb(&r, 0xb8000), 'S');
	CHECK_EQ(rmemb(&r, 0xb8001), 0x07);
	/* the cursor: rows 13-14 of its cell in the foreground */
	outw(&r, 0x3d4, 0x0d0a);
	outw(&r, 0x3d4, 0x0e0b);
	outw(&r, 0x3d4, 0x000e);
	outw(&r, 0x3d4, 0x010f);                                     /* cell 1: 'e' */
	fb = bochs_frame(&r.b, &m);
	CHECK_EQ(pci_get(fb, 13 * m.stride + 9 * 4, 4), 0xaaaaaa);
	CHECK_EQ(pci_get(fb, 15 * m.stride + 9 * 4, 4), 0);
	bochs_destroy(&r.b);
}

TEST(stdvga_planar_font_load)
{
	struct rig r;
	rig_init(&r);
	mode3(&r);
	put_text(&r, 0, 0, "AB", 0x07);
	/* as a VGA BIOS loads its font: plane 2 alone, planar, the window at 0xA0000 */
	outw(&r, 0x3c4, 0x0402);
	outw(&r, 0x3c4, 0x0704);
	outw(&r, 0x3ce, 0x0204);
	outw(&r, 0x3ce, 0x0005);
	outw(&r, 0x3ce, 0x0406);
	for (unsigned i = 0; i < 32; i++)
		memb(&r, 0xa0000 + 0x41 * 32 + i, 0x5a);
	CHECK_EQ(r.b.vga->vga.planes[2][0x41 * 32], 0x5a);
	CHECK_EQ(r.b.vga->vga.planes[0][0], 'A');                      /* the text untouched */
	CHECK_EQ(rmemb(&r, 0xa0000 + 0x41 * 32), 0x5a);                /* read mode 0, map 2 */
	/* write mode 2 with a bit mask, and the latches */
	outw(&r, 0x3c4, 0x0f02);
	outw(&r, 0x3ce, 0x0205);
	outw(&r, 0x3ce, 0xf008);
	(void)rmemb(&r, 0xa0100);
	memb(&r, 0xa0100, 0x05);                                        /* planes 0 and 2 set */
	CHECK(r.b.vga->vga.planes[0][0x100] == 0xf0 && r.b.vga->vga.planes[1][0x100] == 0 &&
	      r.b.vga->vga.planes[2][0x100] == 0xf0);
	/* back to text: the screen shows A and B */
	mode3(&r);
	struct display_mode m;
	const uint8_t *fb = bochs_frame(&r.b, &m);
	REQUIRE(fb != NULL);
	CHECK_EQ(read_cell(fb, m.stride, 1, 0, 0xaaaaaa), 'B');
	/* a graphics mode is not shown */
	outw(&r, 0x3ce, 0x0506);
	CHECK(bochs_frame(&r.b, &m) == NULL && !m.enabled);
	bochs_destroy(&r.b);
}

TEST(stdvga_hostile_registers)
{
	struct rig r;
	rig_init(&r);
	mode3(&r);
	struct display_mode m;
	/* 256 columns of 16 pixels: past the bound, nothing shown */
	outw(&r, 0x3d4, 0xff01);                                     /* protected (CR11 bit 7): not taken */
	CHECK(r.b.vga->vga.r.cr[1] == 0x4f);
	outw(&r, 0x3d4, 0x0e11);
	outw(&r, 0x3d4, 0xff01);
	outw(&r, 0x3c4, 0x0901);
	CHECK(bochs_frame(&r.b, &m) == NULL && !m.enabled);
	/* the largest rows: 1024 lines of 1-line characters still fit */
	outw(&r, 0x3c4, 0x0101);
	outw(&r, 0x3d4, 0x4f01);
	outw(&r, 0x3d4, 0x4207);
	outw(&r, 0x3d4, 0xff12);
	outw(&r, 0x3d4, 0x0009);
	CHECK(bochs_frame(&r.b, &m) != NULL && m.height == 1024 && m.width == 640);
	/* a start address at the top wraps in the plane */
	outw(&r, 0x3d4, 0xff0c);
	outw(&r, 0x3d4, 0xff0d);
	CHECK(bochs_frame(&r.b, &m) != NULL);
	/* indices past the registers: ignored, read as 0/0xff */
	outb(&r, 0x3d4, 0x40);
	outb(&r, 0x3d5, 0x12);
	CHECK_EQ(inb(&r, 0x3d5), 0xff);
	outb(&r, 0x3ce, 0x0c);
	outb(&r, 0x3cf, 0x12);
	CHECK_EQ(inb(&r, 0x3cf), 0);
	/* the mono CRTC ports do nothing in colour mode */
	outb(&r, 0x3b4, 0x01);
	CHECK_EQ(inb(&r, 0x3b4), 0xff);
	/* the DAC wraps its index */
	outb(&r, 0x3c8, 0xff);
	for (unsigned i = 0; i < 6; i++)
		outb(&r, 0x3c9, 0xff);
	CHECK(r.b.vga->vga.r.palette[0] == 0x3f && r.b.vga->vga.r.dac_write == 1);
	/* input status 1 toggles retrace and resets the flip-flop */
	outb(&r, 0x3c0, 0x10);
	CHECK(inb(&r, 0x3da) != inb(&r, 0x3da));
	CHECK_EQ(r.b.vga->vga.r.ar_flip, 0);
	bochs_destroy(&r.b);
}

TEST(stdvga_dispi_ports_and_bank)
{
	struct rig r;
	rig_init(&r);
	outw(&r, 0x1ce, DISPI_INDEX_ID);
	CHECK_EQ_HEX(inw(&r, 0x1cf), DISPI_ID5);
	outw(&r, 0x1cf, DISPI_ID0);
	CHECK_EQ_HEX(inw(&r, 0x1cf), DISPI_ID0);
	CHECK_EQ(inw(&r, 0x1ce), DISPI_INDEX_ID);
	outw(&r, 0x1ce, DISPI_INDEX_VIDEO_MEMORY_64K);
	CHECK_EQ(inw(&r, 0x1cf), 256);
	outw(&r, 0x1ce, 0x4444);                                     /* no register */
	outw(&r, 0x1cf, 1);
	CHECK_EQ(inw(&r, 0x1cf), 0xffff);
	/* a VBE mode: 640x480x32 */
	const uint16_t set[][2] = { { DISPI_INDEX_BPP, 32 }, { DISPI_INDEX_XRES, 640 }, { DISPI_INDEX_YRES, 480 },
				    { DISPI_INDEX_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED } };
	for (unsigned i = 0; i < 4; i++) {
		outw(&r, 0x1ce, set[i][0]);
		outw(&r, 0x1cf, set[i][1]);
	}
	struct display_mode m;
	CHECK(bochs_frame(&r.b, &m) == r.b.vram && m.width == 640 && m.height == 480);
	/* the window is bank 2 of video memory (64 KiB at 0xA0000) */
	outw(&r, 0x3ce, 0x0406);
	outw(&r, 0x1ce, DISPI_INDEX_BANK);
	outw(&r, 0x1cf, 2);
	memb(&r, 0xa0004, 0x99);
	CHECK_EQ(r.b.vram[0x20004], 0x99);
	CHECK_EQ(rmemb(&r, 0xa0004), 0x99);
	outw(&r, 0x1cf, 0x7fff);                                     /* a bank past video memory */
	memb(&r, 0xa0000, 1);
	CHECK_EQ(rmemb(&r, 0xa0000), 0xff);
	/* BAR 2's copy of the VGA ports */
	uint8_t v = 0x07;
	bochs_mmio_write(&r.b, STDVGA_MMIO_VGA + 4, &v, 1);            /* 0x3C4 */
	CHECK_EQ(r.b.vga->vga.r.sr_index, 7);
	bochs_destroy(&r.b);
}

TEST(stdvga_saved_state)
{
	struct rig a, b;
	rig_init(&a);
	rig_init(&b);
	mode3(&a);
	put_text(&a, 1, 0, "restored", 0x0f);   /* column 0 has the cursor */
	struct enc e;
	enc_init(&e);
	bochs_state_ops.save(&a.b, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK(e.len < 3 * 4100 + 2000);   /* no video memory page, two plane pages */
	char err[256];
	struct dec d;
	dec_init(&d, e.buf, e.len);
	REQUIRE_EQ(bochs_state_ops.load(&b.b, &d, 2, err, sizeof(err)), 0);
	struct display_mode m;
	const uint8_t *fb = bochs_frame(&b.b, &m);
	REQUIRE(fb != NULL);
	CHECK_EQ(read_cell(fb, m.stride, 1, 0, 0xffffff), 'r');
	/* into bochs-display: refused */
	struct bochs plain;
	REQUIRE_EQ(bochs_create(&plain, &(struct bochs_params){ 640, 480 }, NULL, NULL, err, sizeof(err)), 0);
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(bochs_state_ops.load(&plain, &d, 2, err, sizeof(err)), -EINVAL);
	/* hostile register values: refused, the device unchanged */
	size_t vga_at = 256 + 2 * DISPI_NREGS + 8 + 4 + 1;   /* after the empty page list and the flag */
	uint8_t *sr_index = &e.buf[vga_at + 3];
	*sr_index = 9;
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(bochs_state_ops.load(&b.b, &d, 2, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "sequencer 9") != NULL);
	*sr_index = 0;
	e.buf[vga_at + 3 + 1] = 0xff;                          /* SR0 with bits no VGA keeps */
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(bochs_state_ops.load(&b.b, &d, 2, err, sizeof(err)), -EINVAL);
	CHECK_EQ(read_cell(bochs_frame(&b.b, &m), m.stride, 1, 0, 0xffffff), 'r');
	/* bochs-display's state into stdvga: refused (at the latest by the flag) */
	enc_free(&e);
	enc_init(&e);
	bochs_state_ops.save(&plain, &e);
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(bochs_state_ops.load(&b.b, &d, 2, err, sizeof(err)), -EINVAL);
	enc_free(&e);
	bochs_destroy(&plain);
	bochs_destroy(&a.b);
	bochs_destroy(&b.b);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
