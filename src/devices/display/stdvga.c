/* stdvga: the legacy VGA beside bochs-display's registers, and its text screen as display.h's
 * frame. See stdvga.h. */
#include "devices/display/stdvga.h"
#include "devices/display/bochs.h"
#include "bus/bus.h"
#include "util/bitmap.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096u
#define FB_BYTES ((size_t)VGA_TEXT_MAX_WIDTH * VGA_TEXT_MAX_HEIGHT * 4)

int stdvga_create(struct bochs *b)
{
	struct stdvga *s = aligned_alloc(_Alignof(struct stdvga), sizeof(*s));   /* its planes are page-scanned */
	if (!s)
		return -ENOMEM;
	memset(s, 0, sizeof(*s));
	/* 12 MiB reserved, only what a text screen covers ever touched */
	s->fb = mmap(NULL, FB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s->fb == MAP_FAILED) {
		free(s);
		return -ENOMEM;
	}
	vga_init(&s->vga);
	s->stale = true;
	b->vga = s;
	return 0;
}

void stdvga_destroy(struct bochs *b)
{
	if (!b->vga)
		return;
	munmap(b->vga->fb, FB_BYTES);
	free(b->vga);
	b->vga = NULL;
}

void stdvga_reset(struct bochs *b)
{
	vga_init(&b->vga->vga);
	b->vga->dispi_index = 0;
	b->vga->geom = (struct vga_text_geom){ 0 };   /* a new mode when drawn again */
	b->vga->stale = true;
}

bool stdvga_showing(const struct bochs *b)
{
	return b->vga && !(b->st.dispi.regs[DISPI_INDEX_ENABLE] & DISPI_ENABLED);
}

/* Draw the text screen again into fb, marking the lines that changed; a new geometry is a new
 * mode (every line changed). Lock held. false: nothing to show (a graphics mode, a refused
 * geometry). */
static bool redraw(struct bochs *b)
{
	struct stdvga *s = b->vga;
	if (!s->stale)   /* nothing written since: fb (or nothing) is what the registers show */
		return s->geom.width != 0;
	s->stale = false;
	struct vga_text_geom g;
	char why[160];
	int r = vga_text_geometry(&s->vga, &g, why, sizeof(why));
	if (r < 0)
		log_limited(LOG_WARN, "%s: the guest's VGA mode is refused: %s", b->pci.name, why);
	if (r != 0)
		g = (struct vga_text_geom){ 0 };
	if (g.width != s->geom.width || g.height != s->geom.height || g.cw != s->geom.cw) {
		s->geom = g;
		b->generation++;
		memset(s->pending, 0xff, sizeof(s->pending));
		if (g.width)
			log_debug("%s: text mode %ux%u (%ux%u pixels)", b->pci.name, g.cols, g.rows, g.width, g.height);
	}
	s->geom.blank = g.blank;
	if (!g.width)
		return false;
	size_t bytes = (size_t)g.width * 4;
	for (uint32_t y = 0; y < g.height; y++) {
		vga_text_line(&s->vga, &g, y, s->line);
		uint32_t *dst = s->fb + (size_t)y * g.width;
		if (memcmp(dst, s->line, bytes) != 0) {
			memcpy(dst, s->line, bytes);
			bitmap_set(s->pending, y);
		}
	}
	return true;
}

const uint8_t *stdvga_frame(struct bochs *b, struct display_mode *mode)
{
	struct stdvga *s = b->vga;
	bool on = redraw(b);
	*mode = (struct display_mode){ on, on ? s->geom.width : 0, on ? s->geom.height : 0, on ? s->geom.width * 4 : 0,
				       on ? 32 : 0, b->generation };
	return on ? (const uint8_t *)s->fb : NULL;
}

int stdvga_changed(struct bochs *b, uint64_t *lines, uint32_t nbits)
{
	struct stdvga *s = b->vga;
	memset(lines, 0, BITMAP_WORDS(nbits) * 8);
	uint32_t n = redraw(b) ? (s->geom.height < nbits ? s->geom.height : nbits) : 0;
	int count = 0;
	for (uint32_t y = 0; y < n; y++)
		if (bitmap_test(s->pending, y)) {
			bitmap_set(lines, y);
			count++;
		}
	memset(s->pending, 0, sizeof(s->pending));
	return count;
}

/* ---- BAR 2's copy of the ports 0x3C0-0x3DF (lock held) ---- */

uint8_t stdvga_mmio_read(struct bochs *b, unsigned off)
{
	return vga_port_read(&b->vga->vga, 0x3c0 - VGA_PORT_BASE + off);
}

void stdvga_mmio_write(struct bochs *b, unsigned off, uint8_t val)
{
	b->vga->stale = true;
	vga_port_write(&b->vga->vga, 0x3c0 - VGA_PORT_BASE + off, val);
}

/* ---- the ports ---- */

static void port_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct bochs *b = opaque;
	pthread_mutex_lock(&b->lock);
	b->vga->stale = true;   /* a read too: the DAC's and the flip-flop's state moves */
	for (uint32_t i = 0; i < len; i++)   /* a word access is the index and the data */
		data[i] = off + i < VGA_PORT_LEN ? vga_port_read(&b->vga->vga, (unsigned)(off + i)) : 0xff;
	pthread_mutex_unlock(&b->lock);
}

static void port_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct bochs *b = opaque;
	pthread_mutex_lock(&b->lock);
	b->vga->stale = true;
	for (uint32_t i = 0; i < len; i++)
		if (off + i < VGA_PORT_LEN)
			vga_port_write(&b->vga->vga, (unsigned)(off + i), data[i]);
	pthread_mutex_unlock(&b->lock);
}

/* 0x1CE: the DISPI index; 0x1CF (and 0x1D0): its register, through BAR 2's path (bochs.c). */
static void dispi_port_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct bochs *b = opaque;
	memset(data, 0xff, len);
	if (len != 2)
		return;
	pthread_mutex_lock(&b->lock);
	uint16_t index = b->vga->dispi_index;
	pthread_mutex_unlock(&b->lock);
	if (off == 0) {
		data[0] = (uint8_t)index;
		data[1] = (uint8_t)(index >> 8);
	} else if (index < DISPI_NREGS) {
		bochs_mmio_read(b, BOCHS_MMIO_DISPI + 2u * index, data, 2);
	}
}

static void dispi_port_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct bochs *b = opaque;
	if (len != 2) {
		log_limited(LOG_WARN, "%s: a %u-byte write to DISPI port %#llx is no whole register: ignored", b->pci.name,
			    len, (unsigned long long)(STDVGA_DISPI_PORT + off));
		return;
	}
	uint16_t v = (uint16_t)(data[0] | data[1] << 8);
	pthread_mutex_lock(&b->lock);
	uint16_t index = b->vga->dispi_index;
	if (off == 0)
		b->vga->dispi_index = v;
	pthread_mutex_unlock(&b->lock);
	if (off != 0 && index < DISPI_NREGS)
		bochs_mmio_write(b, BOCHS_MMIO_DISPI + 2u * index, data, 2);
}

/* ---- the window 0xA0000-0xBFFFF ---- */

/* Whether window offset off is video memory's bank: a VBE mode is on and the window is the
 * 64 KiB at 0xA0000. Lock held. */
static bool in_bank(const struct bochs *b, uint64_t off)
{
	return !stdvga_showing(b) && vga_window_is_a0000_64k(&b->vga->vga) && off < 0x10000;
}

/* Video memory's byte for a bank's offset off; NULL past video memory. */
static uint8_t *bank_byte(struct bochs *b, uint64_t off)
{
	uint64_t at = ((uint64_t)b->st.dispi.regs[DISPI_INDEX_BANK] << 16) + off;
	return at < b->vram_size ? b->vram + at : NULL;
}

static void window_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct bochs *b = opaque;
	pthread_mutex_lock(&b->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		uint8_t *p = in_bank(b, o) ? bank_byte(b, o) : NULL;
		data[i] = p ? *p : o < VGA_WINDOW_LEN && !in_bank(b, o) ? vga_mem_read(&b->vga->vga, (uint32_t)o) : 0xff;
	}
	pthread_mutex_unlock(&b->lock);
}

static void window_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct bochs *b = opaque;
	pthread_mutex_lock(&b->lock);
	for (uint32_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (in_bank(b, o)) {
			uint8_t *p = bank_byte(b, o);
			if (p) {
				*p = data[i];
				bitmap_set(b->dirty, (uint64_t)(p - b->vram) / PAGE);
			}
		} else if (o < VGA_WINDOW_LEN) {
			b->vga->stale = true;
			vga_mem_write(&b->vga->vga, (uint32_t)o, data[i]);
		}
	}
	pthread_mutex_unlock(&b->lock);
}

int stdvga_attach(struct bochs *b, struct bus *pio, struct bus *mmio)
{
	int e = bus_register(pio, VGA_PORT_BASE, VGA_PORT_LEN, "vga", port_read, port_write, b);
	e = e ?: bus_register(pio, STDVGA_DISPI_PORT, STDVGA_DISPI_PORT_LEN, "vga-dispi", dispi_port_read,
			      dispi_port_write, b);
	return e ?: bus_register(mmio, VGA_WINDOW, VGA_WINDOW_LEN, "vga-window", window_read, window_write, b);
}
