/* libFuzzer target: bochs-display's and stdvga's registers (src/devices/display: dispi.c,
 * bochs.c, bochs_state.c, edid.c; stdvga.c, vga.c, vga_text.c) driven by a hostile guest, and
 * the tablet's configuration space (devices/virtio/input.c). No KVM: the device off any PCI
 * bus (stdvga's ports and window on buses of the target's), its video memory a mapping of
 * exactly its size.
 *
 * Input: a byte (the EDID's mode: 320 + 8 * b x 200 + 6 * b; video memory 64 KiB << b % 6, small
 * so that every page is looked at fast; bit 7: stdvga), then operations until the end,
 * each a byte (op % 12) and its arguments:
 *   0 MMIO write: le16 offset (% 0x1100: past the BAR too), a width byte (1 << b % 4), 8 value bytes
 *   1 MMIO read: le16 offset, a width byte
 *   2 DISPI register: an index byte (% 12), le16 value (what a driver's sequence writes)
 *   3 framebuffer write through the BAR: le32 offset (% vram + 64), a width byte, 8 value bytes
 *   4 the frame and its changed lines: le16 bit count
 *   5 state round trip: save, load into a second device: the same mode and memory
 *   6 state changed: a count byte (1 + c % 8) and patches (le16 offset % the state's length,
 *     a byte XORed there), loaded: refused, or else the mode it describes is a sane one
 *   7 reset
 *   8 tablet configuration: select and subsel bytes
 *   9 tablet state (VINP): a length byte and that many bytes, loaded into a tablet: refused,
 *     or else its events waiting are at most its queue's
 *  10 stdvga's ports: a port byte (% 0x33: 0x3B0-0x3DF, then 0x1CE-0x1D0), a width byte (1 or
 *     2), le16 value, a direction byte
 *  11 stdvga's window 0xA0000: le32 offset (% 0x20000 + 16), a width byte, 8 value bytes, a
 *     direction byte
 * After each: a shown mode lies inside video memory, or inside stdvga's text buffer (checked
 * through the pointer and the stride, and by ASan touching its first and last pixel), its
 * changed lines are at most its height; a refused state changed nothing. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/dev_state.h"
#include "bus/bus.h"
#include "devices/display/bochs.h"
#include "devices/display/stdvga.h"
#include "devices/virtio/input.h"
#include "fuzz_common.h"
#include "util/bitmap.h"
#include "util/codec.h"

FUZZ_QUIET_LOGS()

static void check_frame(struct bochs *b, uint32_t nbits)
{
	struct display_mode m;
	const uint8_t *p = bochs_frame(b, &m);
	FUZZ_CHECK(!m.enabled == !p);
	if (p) {
		FUZZ_CHECK(m.bpp == 32 && m.width && m.height && m.stride >= m.width * 4);
		if (b->vga && p == (const uint8_t *)b->vga->fb) {
			FUZZ_CHECK(stdvga_showing(b) && m.width <= VGA_TEXT_MAX_WIDTH && m.height <= VGA_TEXT_MAX_HEIGHT);
		} else {
			uint64_t off = (uint64_t)(p - b->vram);
			FUZZ_CHECK(off + (uint64_t)(m.height - 1) * m.stride + (uint64_t)m.width * 4 <= b->vram_size);
		}
		volatile uint8_t x = p[0];
		x = p[(uint64_t)(m.height - 1) * m.stride + (uint64_t)m.width * 4 - 1];
		(void)x;
	}
	uint64_t *lines = calloc(BITMAP_WORDS(nbits) + 1, 8);
	FUZZ_CHECK(lines);
	int n = bochs_changed(b, lines, nbits);
	FUZZ_CHECK(n >= 0 && (uint32_t)n <= nbits && (!m.enabled ? n == 0 : (uint32_t)n <= m.height));
	free(lines);
}

static uint8_t *save(struct bochs *b, size_t *len)
{
	struct enc e;
	enc_init(&e);
	bochs_state_ops.save(b, &e);
	FUZZ_CHECK(e.err == 0);
	*len = e.len;
	return e.buf;
}

static void state_changed(struct fuzz_input *in, struct bochs *b)
{
	size_t len;
	uint8_t *st = save(b, &len);
	unsigned n = 1 + fuzz_byte(in) % 8;
	for (unsigned i = 0; i < n; i++) {
		uint16_t off = 0;
		fuzz_take(in, &off, 2);
		st[off % len] ^= fuzz_byte(in);
	}
	struct dispi_state before = b->st.dispi;
	struct vga_regs vbefore;
	if (b->vga)
		vbefore = b->vga->vga.r;
	struct dec d;
	dec_init(&d, st, len);
	char err[256] = "";
	int r = bochs_state_ops.load(b, &d, bochs_state_ops.version, err, sizeof(err));
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL && err[0]);
		FUZZ_CHECK(memcmp(&before, &b->st.dispi, sizeof(before)) == 0);
		FUZZ_CHECK(!b->vga || memcmp(&vbefore, &b->vga->vga.r, sizeof(vbefore)) == 0);
	} else if (b->vga) {
		char why[256];
		FUZZ_CHECK(vga_check(&b->vga->vga.r, why, sizeof(why)) == 0);
	}
	free(st);
	check_frame(b, 4096);
}

static void round_trip(struct bochs *b, const struct bochs_params *p)
{
	struct bochs c;
	char err[256];
	FUZZ_CHECK(bochs_create(&c, p, NULL, NULL, err, sizeof(err)) == 0);
	size_t len;
	uint8_t *st = save(b, &len);
	struct dec d;
	dec_init(&d, st, len);
	FUZZ_CHECK(bochs_state_ops.load(&c, &d, bochs_state_ops.version, err, sizeof(err)) == 0);
	struct display_mode m1, m2;
	const uint8_t *p1 = bochs_frame(b, &m1), *p2 = bochs_frame(&c, &m2);
	FUZZ_CHECK(m1.enabled == m2.enabled && m1.width == m2.width && m1.height == m2.height && m1.stride == m2.stride);
	FUZZ_CHECK(memcmp(b->vram, c.vram, b->vram_size) == 0);
	if (b->vga && stdvga_showing(b))   /* the same text screen drawn */
		FUZZ_CHECK(!p1 == !p2 && (!p1 || memcmp(p1, p2, (size_t)m1.stride * m1.height) == 0));
	else
		FUZZ_CHECK(!p1 == !p2 && (!p1 || p1 - b->vram == p2 - c.vram));
	free(st);
	bochs_destroy(&c);
}

/* The tablet's saved state, as a file or a peer could forge it. */
static void tablet_state(struct fuzz_input *in)
{
	static struct virtio_input t;
	static bool made;
	if (!made) {
		FUZZ_CHECK(virtio_input_create(&t, NULL, NULL) == 0);
		made = true;
	}
	uint8_t buf[256];
	size_t n = fuzz_byte(in);
	n = n < in->left ? n : in->left;
	fuzz_take(in, buf, n);
	struct dec d;
	dec_init(&d, buf, n);
	char err[256] = "";
	int r = t.vdev.ops->state->load(&t.vdev, &d, 1, err, sizeof(err));
	FUZZ_CHECK(r == 0 || (r == -EINVAL && err[0]));
	FUZZ_CHECK(t.st.count <= VIRTIO_INPUT_PENDING && t.st.buttons <= 7);
	struct enc e;
	enc_init(&e);
	t.vdev.ops->state->save(&t.vdev, &e);
	FUZZ_CHECK(e.err == 0);
	enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fuzz_input in = { data, len };
	uint8_t sz = fuzz_byte(&in);
	struct bochs_params p = { 320 + 8u * sz, 200 + 6u * sz, (64u << 10) << sz % 6, .vga = sz & 0x80 };
	struct bochs b;
	char err[256];
	FUZZ_CHECK(bochs_create(&b, &p, NULL, NULL, err, sizeof(err)) == 0);
	static struct bus pio, mmio;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	FUZZ_CHECK(!p.vga || stdvga_attach(&b, &pio, &mmio) == 0);
	struct virtio_input_state tab = { 0 };
	uint8_t cfg[VIRTIO_INPUT_CONFIG_LEN];
	while (in.left) {
		uint8_t op = fuzz_byte(&in), v[8] = { 0 };
		uint16_t off16 = 0, val = 0;
		uint32_t off32 = 0, w;
		switch (op % 12) {
		case 0:
			fuzz_take(&in, &off16, 2);
			w = 1u << fuzz_byte(&in) % 4;
			fuzz_take(&in, v, 8);
			if (off16 % 0x1100 < BOCHS_MMIO_SIZE)
				b.pci.ops->bar_write(&b.pci, 2, off16 % 0x1100, v, w);
			else
				bochs_mmio_write(&b, off16 % 0x1100, v, w);
			break;
		case 1:
			fuzz_take(&in, &off16, 2);
			w = 1u << fuzz_byte(&in) % 4;
			bochs_mmio_read(&b, off16 % 0x1100, v, w);
			break;
		case 2: {
			unsigned index = fuzz_byte(&in) % 12;
			fuzz_take(&in, &val, 2);
			uint8_t d[2] = { (uint8_t)val, (uint8_t)(val >> 8) };
			bochs_mmio_write(&b, BOCHS_MMIO_DISPI + 2 * index, d, 2);
			break;
		}
		case 3:
			fuzz_take(&in, &off32, 4);
			w = 1u << fuzz_byte(&in) % 4;
			fuzz_take(&in, v, 8);
			b.pci.ops->bar_write(&b.pci, 0, off32 % (b.vram_size + 64), v, w);
			break;
		case 4:
			fuzz_take(&in, &off16, 2);
			check_frame(&b, off16);
			break;
		case 5:
			round_trip(&b, &p);
			break;
		case 6:
			state_changed(&in, &b);
			break;
		case 7:
			bochs_reset(&b);
			break;
		case 9:
			tablet_state(&in);
			break;
		case 10: {
			uint8_t port = fuzz_byte(&in) % 0x33;
			w = 1 + fuzz_byte(&in) % 2;
			fuzz_take(&in, v, 2);
			bus_access(&pio, port < 0x30 ? VGA_PORT_BASE + port : STDVGA_DISPI_PORT + port - 0x30u, v, w,
				   fuzz_byte(&in) & 1);
			break;
		}
		case 11:
			fuzz_take(&in, &off32, 4);
			w = 1u << fuzz_byte(&in) % 4;
			fuzz_take(&in, v, 8);
			bus_access(&mmio, VGA_WINDOW + off32 % (VGA_WINDOW_LEN + 16), v, w, fuzz_byte(&in) & 1);
			break;
		default:
			tab.select = fuzz_byte(&in);
			tab.subsel = fuzz_byte(&in);
			virtio_input_config_image(&tab, cfg);
			FUZZ_CHECK(cfg[2] <= VIRTIO_INPUT_CONFIG_LEN - 8);
			break;
		}
		check_frame(&b, 4096);
	}
	bochs_destroy(&b);
	return 0;
}
