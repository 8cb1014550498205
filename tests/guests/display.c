/* SPDX-License-Identifier: Apache-2.0 */
/*
 * display: bochs-display and the PS/2 keyboard and mouse (docs/display.md), driven as Linux's
 * bochs driver and i8042 driver do. Finds 1234:1111 on PCI bus 0, checks the EDID block (its
 * preferred mode is the definition's), programs that mode through the DISPI registers in BAR 2
 * and draws display_pixel(x, y) over the whole screen (ring 3); prints
 * "display: drawn WxH". With evil=1 first: absurd modes (a depth of 16, 16000x12000, a virtual
 * width and offsets past video memory, half registers), each read back and replaced.
 * Then it echoes what the keyboard (set 1, translated) and the mouse (aux port, enabled here)
 * send, polled in ring 3: "key XX" per byte, "mouse B DX DY" per packet, "line: TEXT" on Enter.
 * After the first line it fills lines 100-119 with green ("display: band drawn"); after the
 * second it passes. Fails after wait=N seconds (default 60) without them.
 * With tablet=1 it also drives the virtio-input tablet (checks its name and axes in the
 * configuration space) and echoes its events: "tablet TYPE CODE VALUE".
 * With scroll=HZ (bench/display.py) it programs w=W h=H (default the EDID's preferred mode) and
 * scrolls text instead (display_scroll.c), then passes: no keys, no mouse.
 */
#include "guest.h"
#include "virtio_common.h"
#include "display_scroll.h"

DEFINE_GUEST("display");

#define MMIO_DISPI 0x500
#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define STS_OBF 0x01
#define STS_AUX 0x20

enum { ID, XRES, YRES, BPP, ENABLE, BANK, VIRT_WIDTH, VIRT_HEIGHT, X_OFFSET, Y_OFFSET, VIDEO_MEMORY_64K };

static struct vdev tab;
static struct vq tabq;
static struct vq_mem tabring;
static uint8_t tabbuf[16][8];
static bool have_tablet;

static volatile uint8_t *mmio;
static volatile uint32_t *fb;
static uint32_t width, height;

static uint16_t dispi_get(unsigned i) { return *(volatile uint16_t *)(mmio + MMIO_DISPI + 2 * i); }
static void dispi_set(unsigned i, uint16_t v) { *(volatile uint16_t *)(mmio + MMIO_DISPI + 2 * i) = v; }

/* What the host test computes too (tests/guests/test_guest_display.py). */
static uint32_t display_pixel(uint32_t x, uint32_t y)
{
	return (x & 0xff) | (y & 0xff) << 8 | ((x + y) >> 3 & 0xff) << 16;
}

static void set_mode(uint32_t w, uint32_t h)
{
	dispi_set(ENABLE, 0);
	dispi_set(BPP, 32);
	dispi_set(XRES, (uint16_t)w);
	dispi_set(YRES, (uint16_t)h);
	dispi_set(BANK, 0);
	dispi_set(VIRT_WIDTH, (uint16_t)w);
	dispi_set(VIRT_HEIGHT, (uint16_t)h);
	dispi_set(X_OFFSET, 0);
	dispi_set(Y_OFFSET, 0);
	dispi_set(ENABLE, 0x41);   /* enabled, linear framebuffer */
}

static long draw(long unused)
{
	for (uint32_t y = 0; y < height; y++)
		for (uint32_t x = 0; x < width; x++)
			fb[y * width + x] = display_pixel(x, y);
	return 0;
}

static long draw_band(long unused)
{
	for (uint32_t y = 100; y < 120 && y < height; y++)
		for (uint32_t x = 0; x < width; x++)
			fb[y * width + x] = 0x0000ff00;
	return 0;
}

/* A guest that programs nonsense: each value read back, the device unharmed. */
static void evil(uint32_t vram)
{
	dispi_set(ENABLE, 0);
	dispi_set(BPP, 16);
	dispi_set(XRES, 640);
	dispi_set(YRES, 480);
	dispi_set(ENABLE, 0x41);              /* a mode the device does not show */
	check(dispi_get(BPP) == 16, "BPP 16 not kept: %u", dispi_get(BPP));
	dispi_set(ENABLE, 0);
	dispi_set(BPP, 32);
	dispi_set(XRES, 16000);
	dispi_set(YRES, 12000);               /* 732 MiB: past video memory */
	dispi_set(ENABLE, 0x41);
	check(dispi_get(XRES) == 16000, "XRES %u", dispi_get(XRES));
	dispi_set(XRES, 60000);               /* past the maximum: not taken */
	check(dispi_get(XRES) == 16000, "XRES 60000 taken: %u", dispi_get(XRES));
	dispi_set(ENABLE, 0);
	dispi_set(XRES, 640);
	dispi_set(YRES, 480);
	dispi_set(ENABLE, 0x41);
	dispi_set(VIRT_WIDTH, 65535);         /* a line of 256 KiB */
	dispi_set(Y_OFFSET, 65535);           /* 16 GiB in */
	dispi_set(X_OFFSET, 65535);
	dispi_set(VIDEO_MEMORY_64K, 1);       /* read-only */
	check(dispi_get(VIDEO_MEMORY_64K) == vram >> 16, "video memory register written");
	*(volatile uint8_t *)(mmio + MMIO_DISPI + 2) = 0x12; /* half a register: ignored */
	*(volatile uint32_t *)(mmio + 0x604) = 0xbebebebe;  /* big-endian framebuffer: refused */
	dispi_set(ID, 0x1234);                /* no version */
	check(dispi_get(ID) >= 0xb0c0 && dispi_get(ID) <= 0xb0c5, "ID %#x", dispi_get(ID));
	printf("display: evil done\n");
}

/* Set 1 (translated) make codes to characters: enough for the test's lines. */
static char key_char(uint8_t sc)
{
	static const char row1[] = "qwertyuiop", row2[] = "asdfghjkl", row3[] = "zxcvbnm";
	if (sc >= 0x10 && sc <= 0x19) return row1[sc - 0x10];
	if (sc >= 0x1e && sc <= 0x26) return row2[sc - 0x1e];
	if (sc >= 0x2c && sc <= 0x32) return row3[sc - 0x2c];
	if (sc >= 0x02 && sc <= 0x0a) return (char)('1' + sc - 0x02);
	if (sc == 0x0b) return '0';
	if (sc == 0x39) return ' ';
	return 0;
}

static void kbd_cmd(uint8_t port, uint8_t v)
{
	while (inb(I8042_STATUS) & 0x02)
		pause();
	outb(port, v);
}

static int read_byte(bool *aux)
{
	for (int i = 0; i < 100000; i++) {
		uint8_t s = inb(I8042_STATUS);
		if (s & STS_OBF) {
			*aux = s & STS_AUX;
			return inb(I8042_DATA);
		}
	}
	return -1;
}

/* The tablet's event queue: 16 buffers of one event each. */
static long tablet_setup(long unused)
{
	check(vpci_find(18, 0, &tab), "no virtio-input device");
	uint64_t feats;
	check(vdev_negotiate(&tab, VF_VERSION_1, &feats), "virtio-input refused FEATURES_OK");
	volatile uint8_t *cfg = (volatile uint8_t *)tab.devcfg;
	char name[32] = { 0 };
	cfg[0] = 0x01;   /* ID_NAME */
	cfg[1] = 0;
	for (unsigned i = 0; i < cfg[2] && i < sizeof(name) - 1; i++)
		name[i] = (char)cfg[8 + i];
	cfg[0] = 0x12;   /* ABS_INFO, ABS_X */
	uint32_t max = vdev_cfg_read(&tab, 12, 4);
	check(cfg[2] == 20 && max == 32767, "ABS_X: size %u, max %u", cfg[2], max);
	check(vq_setup(&tab, &tabq, 0, &tabring, 16, 0xffff), "event queue setup failed");
	vdev_driver_ok(&tab);
	for (int i = 0; i < 16; i++) {
		struct vbuf b = { tabbuf[i], 8, true };
		vq_add(&tabq, &b, 1);
	}
	vq_kick(&tabq);
	printf("display: tablet '%s'\n", name);
	return 0;
}

static void tablet_poll(void)
{
	uint32_t id, len;
	while (have_tablet && vq_poll(&tabq, &id, &len)) {
		const uint8_t *e = (const uint8_t *)(uintptr_t)tabq.desc[id].addr;
		printf("tablet %u %u %u\n", e[0] | e[1] << 8, e[2] | e[3] << 8,
		       e[4] | e[5] << 8 | e[6] << 16 | (uint32_t)e[7] << 24);
		struct vbuf b = { e, 8, true };
		vq_add(&tabq, &b, 1);
		vq_kick(&tabq);
	}
}

/* Ring 3: echo keys and mouse packets until `lines` lines were typed or time is up. */
static long echo(long secs)
{
	char line[64];
	unsigned n = 0, lines = 0, mp = 0;
	uint8_t pkt[3];
	struct deadline d;
	deadline_start(&d, (int)secs);
	while (!deadline_expired(&d)) {
		bool aux = false;
		tablet_poll();
		int b = read_byte(&aux);
		if (b < 0)
			continue;
		if (aux) {
			pkt[mp++] = (uint8_t)b;
			if (mp == 1 && !(b & 0x08))
				mp = 0;   /* out of step: a packet starts with bit 3 */
			if (mp == 3) {
				int dx = pkt[1] - (pkt[0] & 0x10 ? 256 : 0), dy = pkt[2] - (pkt[0] & 0x20 ? 256 : 0);
				printf("mouse %u %d %d\n", pkt[0] & 7, dx, dy);
				mp = 0;
			}
			continue;
		}
		printf("key %02x\n", b);
		if (b == 0x1c) {
			line[n] = 0;
			printf("line: %s\n", line);
			n = 0;
			if (++lines == 1) {
				draw_band(0);
				printf("display: band drawn\n");
			} else {
				return 1;
			}
		} else if (key_char((uint8_t)b) && n < sizeof(line) - 1) {
			line[n++] = key_char((uint8_t)b);
		}
	}
	return 0;
}

void test_main(void)
{
	unsigned slot;
	for (slot = 0; slot < 32 && pci_cfg_read32(slot, 0) != 0x11111234u; slot++)
		;
	check(slot < 32, "no bochs-display (1234:1111) on PCI bus 0");
	uint32_t cls = pci_cfg_read32(slot, 8) >> 8;
	check(cls == 0x038000, "class %06x, want 038000", cls);
	fb = (volatile uint32_t *)(uintptr_t)(pci_cfg_read32(slot, 0x10) & ~0xfu);
	mmio = (volatile uint8_t *)(uintptr_t)(pci_cfg_read32(slot, 0x18) & ~0xfu);
	check(fb && mmio, "BARs not placed: fb %p mmio %p", (void *)fb, (void *)mmio);
	uint32_t vram = (uint32_t)dispi_get(VIDEO_MEMORY_64K) << 16;
	printf("display: found 00:%02x.0 fb %p mmio %p vram %u MiB\n", slot, (void *)fb, (void *)mmio, vram >> 20);
	static const uint8_t hdr[8] = { 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
	uint8_t sum = 0;
	for (unsigned i = 0; i < 128; i++) {
		if (i < 8)
			check(mmio[i] == hdr[i], "EDID header byte %u is %02x", i, mmio[i]);
		sum = (uint8_t)(sum + mmio[i]);
	}
	check(sum == 0, "EDID checksum %02x", sum);
	width = mmio[54 + 2] | (mmio[54 + 4] >> 4) << 8;
	height = mmio[54 + 5] | (mmio[54 + 7] >> 4) << 8;
	printf("display: edid %ux%u\n", width, height);
	uint16_t id = dispi_get(ID);
	check(id >= 0xb0c0 && id <= 0xb0c5, "DISPI ID %#x", id);
	check(*(volatile uint32_t *)(mmio + 0x600) >= 8, "no QEMU extended registers");
	*(volatile uint32_t *)(mmio + 0x604) = 0x1e1e1e1e;  /* little-endian, as Linux asks */
	if (cmdline_int("evil", 0))
		evil(vram);
	width = (uint32_t)cmdline_int("w", width);
	height = (uint32_t)cmdline_int("h", height);
	set_mode(width, height);
	check(dispi_get(XRES) == width && dispi_get(YRES) == height && dispi_get(BPP) == 32, "mode not kept");
	if (cmdline_int("scroll", 0)) {
		display_scroll(fb, width, height, cmdline_int("scroll", 0));
		pass();
	}
	user_call(draw, 0, 0);
	printf("display: drawn %ux%u\n", width, height);

	/* the keyboard as it is; the mouse enabled as Linux's psmouse does */
	bool aux = false;
	while (inb(I8042_STATUS) & STS_OBF)
		(void)inb(I8042_DATA);
	kbd_cmd(I8042_STATUS, 0xa8);             /* aux port on */
	kbd_cmd(I8042_STATUS, 0xd4);
	kbd_cmd(I8042_DATA, 0xf4);               /* reporting on */
	int ack = read_byte(&aux);
	check(ack == 0xfa && aux, "mouse did not acknowledge: %d (aux %d)", ack, aux);
	if (cmdline_int("tablet", 0)) {
		user_call(tablet_setup, 0, USER_IF);
		have_tablet = true;
	}
	long secs = cmdline_int("wait", 60);
	printf("display: waiting for keys\n");
	check(user_call(echo, secs, USER_IF), "no two lines typed within %ld s", secs);
	pass();
}
