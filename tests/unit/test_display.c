/* Unit tests for the display devices' register handling (src/devices/display): the DISPI
 * register file and the modes it describes or refuses, the EDID block, bochs-display's MMIO
 * BAR, the lines its changes mark and its saved state (hostile ones refused), the tablet's
 * configuration space. No KVM: bochs-display without a memory slot, off any bus. */
#include <errno.h>
#include <string.h>

#include "devices/dev_state.h"
#include "devices/display/bochs.h"
#include "devices/display/dispi.h"
#include "devices/display/edid.h"
#include "devices/virtio/input.h"
#include "util/bitmap.h"
#include "util/log.h"
#include "unit.h"

static void set_mode(struct dispi_state *s, uint16_t w, uint16_t h, uint16_t bpp)
{
	dispi_write(s, DISPI_INDEX_ENABLE, 0);
	dispi_write(s, DISPI_INDEX_BPP, bpp);
	dispi_write(s, DISPI_INDEX_XRES, w);
	dispi_write(s, DISPI_INDEX_YRES, h);
	dispi_write(s, DISPI_INDEX_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED | DISPI_NOCLEARMEM);
}

TEST(dispi_registers)
{
	struct dispi_state s;
	dispi_init(&s);
	const uint64_t vram = 16u << 20;
	CHECK_EQ_HEX(dispi_read(&s, DISPI_INDEX_ID, vram), DISPI_ID5);
	CHECK_EQ(dispi_read(&s, DISPI_INDEX_VIDEO_MEMORY_64K, vram), 256);
	CHECK_EQ(dispi_read(&s, 0x55, vram), 0);                   /* no such register */
	dispi_write(&s, DISPI_INDEX_ID, 0x1234);                   /* no version: kept */
	CHECK_EQ_HEX(dispi_read(&s, DISPI_INDEX_ID, vram), DISPI_ID5);
	dispi_write(&s, DISPI_INDEX_ID, DISPI_ID0);
	CHECK_EQ_HEX(dispi_read(&s, DISPI_INDEX_ID, vram), DISPI_ID0);
	dispi_write(&s, DISPI_INDEX_XRES, 16001);                  /* past the maximum */
	CHECK_EQ(s.regs[DISPI_INDEX_XRES], 0);
	dispi_write(&s, DISPI_INDEX_BPP, 0);                       /* 0 means 8 */
	CHECK_EQ(s.regs[DISPI_INDEX_BPP], 8);
	dispi_write(&s, DISPI_INDEX_BPP, 7);                       /* no such depth */
	CHECK_EQ(s.regs[DISPI_INDEX_BPP], 8);
	dispi_write(&s, DISPI_INDEX_VIDEO_MEMORY_64K, 1);          /* read-only */
	CHECK_EQ(s.regs[DISPI_INDEX_VIDEO_MEMORY_64K], 0);
	dispi_write(&s, DISPI_INDEX_ENABLE, DISPI_GETCAPS);
	CHECK_EQ(dispi_read(&s, DISPI_INDEX_XRES, vram), DISPI_MAX_XRES);
	CHECK_EQ(dispi_read(&s, DISPI_INDEX_YRES, vram), DISPI_MAX_YRES);
	CHECK_EQ(dispi_read(&s, DISPI_INDEX_BPP, vram), 32);
	/* enabling resets the virtual size and the offsets, and clears memory unless told not to */
	dispi_write(&s, DISPI_INDEX_ENABLE, 0);
	dispi_write(&s, DISPI_INDEX_XRES, 800);
	dispi_write(&s, DISPI_INDEX_YRES, 600);
	dispi_write(&s, DISPI_INDEX_Y_OFFSET, 9);
	CHECK(dispi_write(&s, DISPI_INDEX_ENABLE, DISPI_ENABLED));
	CHECK_EQ(s.regs[DISPI_INDEX_VIRT_WIDTH], 800);
	CHECK_EQ(s.regs[DISPI_INDEX_Y_OFFSET], 0);
	CHECK(!dispi_write(&s, DISPI_INDEX_ENABLE, DISPI_ENABLED));  /* already on */
	CHECK(!dispi_write(&s, DISPI_INDEX_ENABLE, 0));
	CHECK(!dispi_write(&s, DISPI_INDEX_ENABLE, DISPI_ENABLED | DISPI_NOCLEARMEM));
}

TEST(dispi_modes)
{
	struct dispi_state s;
	struct dispi_mode m;
	char why[256];
	const uint64_t vram = 16u << 20;
	dispi_init(&s);
	REQUIRE_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), 0);
	CHECK(!m.enabled);
	set_mode(&s, 1024, 768, 32);
	REQUIRE_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), 0);
	CHECK(m.enabled && m.width == 1024 && m.height == 768 && m.stride == 4096 && m.offset == 0);
	/* panning: a virtual width of 2048 and the second screen down */
	dispi_write(&s, DISPI_INDEX_VIRT_WIDTH, 2048);
	dispi_write(&s, DISPI_INDEX_Y_OFFSET, 768);
	dispi_write(&s, DISPI_INDEX_X_OFFSET, 16);
	REQUIRE_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), 0);
	CHECK_EQ(m.stride, 8192);
	CHECK_EQ(m.offset, 768ull * 8192 + 64);
	/* offsets past video memory */
	dispi_write(&s, DISPI_INDEX_Y_OFFSET, 65535);
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "video memory") != NULL);
	CHECK(!m.enabled);
	dispi_write(&s, DISPI_INDEX_Y_OFFSET, 0);
	dispi_write(&s, DISPI_INDEX_X_OFFSET, 2000);               /* x past the virtual width */
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), -EINVAL);
	/* a whole mode past video memory, and the largest one that fits */
	set_mode(&s, 16000, 12000, 32);
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "16000x12000") != NULL);
	set_mode(&s, 2048, 2048, 32);
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), 0);
	set_mode(&s, 2048, 2049, 32);
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), -EINVAL);
	/* depths other than 32 and empty modes */
	set_mode(&s, 640, 480, 16);
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "16 bits") != NULL);
	set_mode(&s, 0, 480, 32);
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), -EINVAL);
	/* the largest virtual width and offsets: no overflow, refused */
	set_mode(&s, 640, 480, 32);
	dispi_write(&s, DISPI_INDEX_VIRT_WIDTH, 65535);
	dispi_write(&s, DISPI_INDEX_X_OFFSET, 65535 - 640);
	dispi_write(&s, DISPI_INDEX_Y_OFFSET, 65535);
	CHECK_EQ(dispi_mode(&s, ~0ull, &m, why, sizeof(why)), 0); /* fits in 2^64 bytes */
	dispi_write(&s, DISPI_INDEX_X_OFFSET, 65535);
	CHECK_EQ(dispi_mode(&s, vram, &m, why, sizeof(why)), -EINVAL);
}

TEST(dispi_check_saved)
{
	struct dispi_state s;
	char err[256];
	dispi_init(&s);
	CHECK_EQ(dispi_check(&s, err, sizeof(err)), 0);
	s.regs[DISPI_INDEX_ID] = 0x1234;
	CHECK_EQ(dispi_check(&s, err, sizeof(err)), -EINVAL);
	dispi_init(&s);
	s.regs[DISPI_INDEX_XRES] = 20000;
	CHECK_EQ(dispi_check(&s, err, sizeof(err)), -EINVAL);
	dispi_init(&s);
	s.regs[DISPI_INDEX_BPP] = 31;
	CHECK_EQ(dispi_check(&s, err, sizeof(err)), -EINVAL);
	dispi_init(&s);
	s.regs[DISPI_INDEX_VIDEO_MEMORY_64K] = 1;
	CHECK_EQ(dispi_check(&s, err, sizeof(err)), -EINVAL);
}

TEST(edid_block)
{
	uint8_t e[EDID_SIZE];
	static const uint32_t sizes[][2] = { { 640, 480 }, { 1024, 768 }, { 1920, 1080 }, { 3840, 2160 }, { 320, 200 } };
	for (unsigned i = 0; i < 5; i++) {
		edid_build(e, sizes[i][0], sizes[i][1]);
		uint8_t sum = 0;
		for (unsigned k = 0; k < EDID_SIZE; k++)
			sum = (uint8_t)(sum + e[k]);
		CHECK_EQ(sum, 0);
		CHECK(e[0] == 0 && e[1] == 0xff && e[7] == 0);
		CHECK_EQ(e[18], 1);
		CHECK_EQ(e[19], 4);
		const uint8_t *d = e + 54;
		CHECK_EQ(d[2] | (d[4] >> 4) << 8, sizes[i][0]);
		CHECK_EQ(d[5] | (d[7] >> 4) << 8, sizes[i][1]);
		CHECK(d[0] | d[1]);                              /* a pixel clock: a timing, not a descriptor */
		CHECK(memcmp(e + 95, "petrel\n", 7) == 0);       /* monitor name */
	}
}

static void mmio_w16(struct bochs *b, unsigned index, uint16_t v)
{
	uint8_t d[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	bochs_mmio_write(b, BOCHS_MMIO_DISPI + 2 * index, d, 2);
}

static uint16_t mmio_r16(struct bochs *b, unsigned index)
{
	uint8_t d[2];
	bochs_mmio_read(b, BOCHS_MMIO_DISPI + 2 * index, d, 2);
	return (uint16_t)(d[0] | d[1] << 8);
}

static void fb_write32(struct bochs *b, uint64_t off, uint32_t v)
{
	uint8_t d[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	b->pci.ops->bar_write(&b->pci, 0, off, d, 4);
}

static void bochs_mode(struct bochs *b, uint16_t w, uint16_t h)
{
	mmio_w16(b, DISPI_INDEX_ENABLE, 0);
	mmio_w16(b, DISPI_INDEX_BPP, 32);
	mmio_w16(b, DISPI_INDEX_XRES, w);
	mmio_w16(b, DISPI_INDEX_YRES, h);
	mmio_w16(b, DISPI_INDEX_ENABLE, DISPI_ENABLED | DISPI_LFB_ENABLED);
}

TEST(bochs_mmio_and_frame)
{
	struct bochs b;
	char err[256];
	REQUIRE_EQ(bochs_create(&b, &(struct bochs_params){ 640, 480 }, NULL, NULL, err, sizeof(err)), 0);
	CHECK_EQ(b.vram_size, 16u << 20);
	CHECK_EQ(pci_get(b.pci.st.cfg, PCI_VENDOR_ID, 2), 0x1234);
	CHECK_EQ(pci_get(b.pci.st.cfg, PCI_DEVICE_ID, 2), 0x1111);
	CHECK_EQ(pci_get(b.pci.st.cfg, PCI_CLASS_PROG, 3), 0x038000);
	uint8_t hdr[8];
	bochs_mmio_read(&b, 0, hdr, 8);
	CHECK(hdr[0] == 0 && hdr[1] == 0xff && hdr[7] == 0);
	uint8_t q[8];
	bochs_mmio_read(&b, BOCHS_MMIO_QEXT, q, 8);
	CHECK_EQ(pci_get(q, 0, 4), BOCHS_QEXT_SIZE);
	CHECK_EQ(pci_get(q, 4, 4), BOCHS_LITTLE_ENDIAN);
	CHECK_EQ_HEX(mmio_r16(&b, DISPI_INDEX_ID), DISPI_ID5);
	CHECK_EQ(mmio_r16(&b, DISPI_INDEX_VIDEO_MEMORY_64K), 256);
	uint8_t ff[4];
	bochs_mmio_read(&b, BOCHS_MMIO_SIZE - 2, ff, 4);            /* past the BAR's end */
	CHECK_EQ(ff[2], 0xff);

	struct display_mode m;
	CHECK(bochs_frame(&b, &m) == NULL);
	CHECK(!m.enabled);
	uint64_t gen0 = m.generation;
	bochs_mode(&b, 640, 480);
	const uint8_t *p = bochs_frame(&b, &m);
	REQUIRE(p != NULL);
	CHECK(m.enabled && m.width == 640 && m.height == 480 && m.stride == 2560 && m.bpp == 32);
	CHECK(m.generation != gen0);
	/* a 32-bit write sets two registers; a byte write is no whole register */
	uint8_t two[4] = { 0, 4, 0, 3 };                           /* XRES 1024, YRES 768 */
	bochs_mmio_write(&b, BOCHS_MMIO_DISPI + 2 * DISPI_INDEX_XRES, two, 4);
	bochs_frame(&b, &m);
	CHECK(m.width == 1024 && m.height == 768);
	uint8_t one = 0x40;
	bochs_mmio_write(&b, BOCHS_MMIO_DISPI + 2 * DISPI_INDEX_XRES, &one, 1);
	bochs_frame(&b, &m);
	CHECK_EQ(m.width, 1024);
	/* a refused mode shows nothing */
	mmio_w16(&b, DISPI_INDEX_BPP, 16);
	CHECK(bochs_frame(&b, &m) == NULL);
	CHECK(!m.enabled);
	bochs_destroy(&b);
}

TEST(bochs_changed_lines)
{
	struct bochs b;
	char err[256];
	uint64_t lines[BITMAP_WORDS(1024)];
	REQUIRE_EQ(bochs_create(&b, &(struct bochs_params){ 640, 480 }, NULL, NULL, err, sizeof(err)), 0);
	CHECK_EQ(bochs_changed(&b, lines, 1024), 0);               /* no mode: no lines */
	bochs_mode(&b, 640, 480);
	CHECK_EQ(bochs_changed(&b, lines, 1024), 480);             /* a new mode: all of them */
	CHECK_EQ(bochs_changed(&b, lines, 100), 0);
	CHECK_EQ(bochs_changed(&b, lines, 1024), 0);
	/* a pixel of line 10 (bytes 25600-28159: page 6 holds lines 9-11) */
	fb_write32(&b, 10 * 2560 + 4, 0xffffff);
	int n = bochs_changed(&b, lines, 1024);
	CHECK_EQ(n, 3);
	CHECK(bitmap_test(lines, 9) && bitmap_test(lines, 10) && bitmap_test(lines, 11) && !bitmap_test(lines, 12));
	/* fewer bits than lines: only those */
	fb_write32(&b, 400 * 2560, 1);
	CHECK_EQ(bochs_changed(&b, lines, 100), 0);
	/* a write past the shown part (the virtual screen below it) marks nothing */
	fb_write32(&b, 480 * 2560 + 8192, 1);
	CHECK_EQ(bochs_changed(&b, lines, 1024), 0);
	/* panning: a virtual width of 2048 pixels, lines of two pages, the first 2560 bytes shown */
	mmio_w16(&b, DISPI_INDEX_VIRT_WIDTH, 2048);
	CHECK_EQ(bochs_changed(&b, lines, 1024), 480);
	fb_write32(&b, 5 * 8192 + 5000, 1);                        /* line 5's second page: not shown */
	CHECK_EQ(bochs_changed(&b, lines, 1024), 0);
	fb_write32(&b, 5 * 8192 + 100, 1);
	CHECK_EQ(bochs_changed(&b, lines, 1024), 1);
	CHECK(bitmap_test(lines, 5));
	/* a BAR access out of range reads ones and writes nothing */
	uint8_t d[4];
	b.pci.ops->bar_read(&b.pci, 0, b.vram_size - 2, d, 4);
	CHECK_EQ(d[0], 0xff);
	bochs_reset(&b);
	struct display_mode m;
	CHECK(bochs_frame(&b, &m) == NULL);
	bochs_destroy(&b);
}

TEST(bochs_state)
{
	struct bochs a, b;
	char err[256];
	REQUIRE_EQ(bochs_create(&a, &(struct bochs_params){ 640, 480 }, NULL, NULL, err, sizeof(err)), 0);
	REQUIRE_EQ(bochs_create(&b, &(struct bochs_params){ 640, 480 }, NULL, NULL, err, sizeof(err)), 0);
	bochs_mode(&a, 640, 480);
	fb_write32(&a, 12345 * 4, 0xabcdef);
	fb_write32(&a, 479 * 2560 + 639 * 4, 0x123456);
	struct enc e;
	enc_init(&e);
	bochs_state_ops.save(&a, &e);
	REQUIRE_EQ(e.err, 0);
	CHECK(e.len < 3 * 4100 + 400);                              /* two pages of video memory, not 16 MiB */
	struct dec d;
	dec_init(&d, e.buf, e.len);
	REQUIRE_EQ(bochs_state_ops.load(&b, &d, bochs_state_ops.version, err, sizeof(err)), 0);
	struct display_mode m;
	const uint8_t *p = bochs_frame(&b, &m);
	REQUIRE(p != NULL);
	CHECK(m.width == 640 && m.height == 480);
	CHECK_EQ(pci_get(p, 12345 * 4, 4), 0xabcdef);
	CHECK_EQ(pci_get(p, 479 * 2560 + 639 * 4, 4), 0x123456);
	uint64_t lines[BITMAP_WORDS(480)];
	CHECK_EQ(bochs_changed(&b, lines, 480), 480);

	/* hostile states: each refused, the device unchanged */
	size_t regs = 256, size_at = regs + 2 * DISPI_NREGS, count_at = size_at + 8, page_at = count_at + 4;
	struct { size_t at; uint8_t v; const char *word; } bad[] = {
		{ regs + 2 * DISPI_INDEX_BPP, 31, "depth" },
		{ size_at + 3, 2, "video memory" },          /* 32 MiB, not 16 */
		{ page_at + 2, 0x10, "out of order" },            /* page 0x100000+: past the 4096 pages */
		{ 0, 0x35, "PCI configuration" },                  /* another vendor */
	};
	fb_write32(&b, 0, 0x77);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t saved = e.buf[bad[i].at];
		e.buf[bad[i].at] = bad[i].v;
		dec_init(&d, e.buf, e.len);
		CHECK_EQ(bochs_state_ops.load(&b, &d, bochs_state_ops.version, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, bad[i].word) != NULL);
		e.buf[bad[i].at] = saved;
		CHECK_EQ(pci_get(bochs_frame(&b, &m), 0, 4), 0x77);
	}
	/* a list that says more pages than it holds, and one page twice */
	dec_init(&d, e.buf, e.len - 1);
	CHECK_EQ(bochs_state_ops.load(&b, &d, bochs_state_ops.version, err, sizeof(err)), -EINVAL);
	uint32_t first = (uint32_t)pci_get(e.buf, page_at, 4);
	pci_put(e.buf, page_at + 4 + 4096, first, 4);
	dec_init(&d, e.buf, e.len);
	CHECK_EQ(bochs_state_ops.load(&b, &d, bochs_state_ops.version, err, sizeof(err)), -EINVAL);
	CHECK_EQ(pci_get(bochs_frame(&b, &m), 0, 4), 0x77);
	enc_free(&e);
	bochs_destroy(&a);
	bochs_destroy(&b);
}

TEST(tablet_config_space)
{
	struct virtio_input_state st = { 0 };
	uint8_t c[VIRTIO_INPUT_CONFIG_LEN];
	virtio_input_config_image(&st, c);
	CHECK_EQ(c[2], 0);                                          /* UNSET */
	st.select = 0x01;
	virtio_input_config_image(&st, c);
	CHECK(c[2] == 13 && memcmp(c + 8, "petrel tablet", 13) == 0);
	st.select = 0x11;
	st.subsel = EV_ABS;
	virtio_input_config_image(&st, c);
	CHECK(c[2] == 1 && c[8] == 0x03);
	st.subsel = EV_KEY;
	virtio_input_config_image(&st, c);
	CHECK_EQ(c[2], BTN_MIDDLE / 8 + 1);
	CHECK_EQ(c[8 + BTN_LEFT / 8], 0x07);
	st.subsel = EV_REL;
	virtio_input_config_image(&st, c);
	CHECK(c[2] == 2 && c[9] == 0x01);
	st.subsel = 0x1f;                                           /* EV_SW etc.: none */
	virtio_input_config_image(&st, c);
	CHECK_EQ(c[2], 0);
	st.select = 0x12;
	st.subsel = ABS_Y;
	virtio_input_config_image(&st, c);
	CHECK(c[2] == 20 && pci_get(c, 12, 4) == VIRTIO_INPUT_ABS_MAX);
	st.subsel = 7;
	virtio_input_config_image(&st, c);
	CHECK_EQ(c[2], 0);
	st.select = 0xee;
	virtio_input_config_image(&st, c);
	CHECK_EQ(c[2], 0);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
