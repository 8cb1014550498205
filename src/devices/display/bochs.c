/* bochs-display: the PCI function, its video memory in a KVM slot, the mode and the changed
 * lines. See bochs.h. */
#include "devices/display/bochs.h"
#include "devices/display/stdvga.h"
#include "kvm/kvm.h"
#include "memory/rom.h"
#include "util/bitmap.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096u

static uint64_t vram_pages(const struct bochs *b)
{
	return b->vram_size / PAGE;
}

/* The mode the registers describe now; a refused one is logged and shows nothing. A change
 * bumps the generation. Lock held. */
static void recompute_mode(struct bochs *b)
{
	struct dispi_mode m;
	char why[256];
	if (dispi_mode(&b->st.dispi, b->vram_size, &m, why, sizeof(why)) < 0) {
		log_limited(LOG_WARN, "%s: the guest's mode is refused: %s", b->pci.name, why);
		memset(&m, 0, sizeof(m));
	}
	if (memcmp(&m, &b->mode, sizeof(m)) != 0) {
		b->mode = m;
		b->generation++;
		if (m.enabled)
			log_debug("%s: mode %ux%u, %u bytes a line, from byte %llu", b->pci.name, m.width, m.height,
				  m.stride, (unsigned long long)m.offset);
	}
}

/* Clear video memory (a mode enabled without NOCLEARMEM, a reset). Lock held. */
static void clear_vram(struct bochs *b)
{
	/* dropping the pages clears them and gives their memory back */
	if (madvise(b->vram, b->vram_size, MADV_DONTNEED) < 0)
		memset(b->vram, 0, b->vram_size);
	b->all_dirty = true;
}

/* ---- BAR 2: EDID, DISPI, QEMU's extended registers ---- */

static uint8_t mmio_byte(struct bochs *b, uint64_t off)
{
	if (off < BOCHS_MMIO_EDID + EDID_SIZE)
		return b->edid[off - BOCHS_MMIO_EDID];
	if (off >= BOCHS_MMIO_DISPI && off < BOCHS_MMIO_DISPI + 2 * DISPI_NREGS) {
		uint16_t v = dispi_read(&b->st.dispi, (unsigned)(off - BOCHS_MMIO_DISPI) / 2, b->vram_size);
		return (uint8_t)(v >> (8 * ((off - BOCHS_MMIO_DISPI) & 1)));
	}
	if (off >= BOCHS_MMIO_QEXT && off < BOCHS_MMIO_QEXT + BOCHS_QEXT_SIZE) {
		uint32_t v = off < BOCHS_MMIO_QEXT + 4 ? BOCHS_QEXT_SIZE : BOCHS_LITTLE_ENDIAN;
		return (uint8_t)(v >> (8 * ((off - BOCHS_MMIO_QEXT) & 3)));
	}
	if (b->vga && off >= STDVGA_MMIO_VGA && off < STDVGA_MMIO_VGA + STDVGA_MMIO_VGA_LEN)
		return stdvga_mmio_read(b, (unsigned)(off - STDVGA_MMIO_VGA));
	return 0;
}

void bochs_mmio_read(struct bochs *b, uint64_t off, uint8_t *data, uint32_t len)
{
	pthread_mutex_lock(&b->lock);
	for (uint32_t i = 0; i < len; i++)
		data[i] = off + i < BOCHS_MMIO_SIZE ? mmio_byte(b, off + i) : 0xff;
	pthread_mutex_unlock(&b->lock);
}

void bochs_mmio_write(struct bochs *b, uint64_t off, const uint8_t *data, uint32_t len)
{
	pthread_mutex_lock(&b->lock);
	if (off >= BOCHS_MMIO_DISPI && off < BOCHS_MMIO_DISPI + 2 * DISPI_NREGS && !(off & 1) && len % 2 == 0 &&
	    len <= 8) {
		/* whole registers: one 16-bit write each (a 32-bit write sets two) */
		for (uint32_t i = 0; i < len && off + i < BOCHS_MMIO_DISPI + 2 * DISPI_NREGS; i += 2) {
			unsigned index = (unsigned)(off + i - BOCHS_MMIO_DISPI) / 2;
			if (dispi_write(&b->st.dispi, index, (uint16_t)(data[i] | data[i + 1] << 8)))
				clear_vram(b);
		}
		recompute_mode(b);
	} else if (off == BOCHS_MMIO_QEXT + 4 && len == 4) {
		uint32_t v = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
		if (v != BOCHS_LITTLE_ENDIAN)
			log_limited(LOG_WARN, "%s: the guest asked for a framebuffer byte order %#x: only "
				    "little-endian (%#x) is shown", b->pci.name, v, BOCHS_LITTLE_ENDIAN);
	} else if (b->vga && off >= STDVGA_MMIO_VGA && off < STDVGA_MMIO_VGA + STDVGA_MMIO_VGA_LEN) {
		for (uint32_t i = 0; i < len && off + i < STDVGA_MMIO_VGA + STDVGA_MMIO_VGA_LEN; i++)
			stdvga_mmio_write(b, (unsigned)(off + i - STDVGA_MMIO_VGA), data[i]);
	} else if (off >= BOCHS_MMIO_DISPI && off < BOCHS_MMIO_DISPI + 2 * DISPI_NREGS) {
		log_limited(LOG_WARN, "%s: a %u-byte write at DISPI offset %#llx is no whole register: ignored",
			    b->pci.name, len, (unsigned long long)(off - BOCHS_MMIO_DISPI));
	}
	/* EDID and the rest: read-only or absent */
	pthread_mutex_unlock(&b->lock);
}

/* ---- BAR 0 through exits (the slot not mapped yet, an emulated access) ---- */

static void vram_access(struct bochs *b, uint64_t off, uint8_t *data, uint32_t len, bool write)
{
	pthread_mutex_lock(&b->lock);
	if (off < b->vram_size && len <= b->vram_size - off) {
		if (write) {
			memcpy(b->vram + off, data, len);
			for (uint64_t p = off / PAGE; p <= (off + len - 1) / PAGE; p++)
				bitmap_set(b->dirty, p);
		} else {
			memcpy(data, b->vram + off, len);
		}
	} else if (!write) {
		memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&b->lock);
}

static void bar_read(struct pci_device *dev, int bar, uint64_t off, uint8_t *data, uint32_t len)
{
	struct bochs *b = dev->opaque;
	if (bar == 0)
		vram_access(b, off, data, len, false);
	else
		bochs_mmio_read(b, off, data, len);
}

static void bar_write(struct pci_device *dev, int bar, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct bochs *b = dev->opaque;
	if (bar == 0)
		vram_access(b, off, (uint8_t *)data, len, true);
	else
		bochs_mmio_write(b, off, data, len);
}

/* BAR 0 decodes somewhere else (or nowhere): the KVM slot follows it. Called with the bus's
 * lock held exclusively. */
static void bar_moved(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct bochs *b = dev->opaque;
	if (bar != 0 || !b->kvm)
		return;
	pthread_mutex_lock(&b->lock);
	if (b->slot_gpa)
		kvm_set_user_memory(b->kvm, FB_SLOT, b->slot_gpa, 0, NULL, 0);
	b->slot_gpa = 0;
	if (new_addr && kvm_set_user_memory(b->kvm, FB_SLOT, new_addr, b->vram_size, b->vram,
					    KVM_MEM_LOG_DIRTY_PAGES) == 0)
		b->slot_gpa = new_addr;
	else if (new_addr)
		log_limited(LOG_ERROR, "%s: cannot map the framebuffer at %#llx: the guest's writes to it exit",
			    dev->name, (unsigned long long)new_addr);
	b->all_dirty = true;
	pthread_mutex_unlock(&b->lock);
	(void)old_addr;
}

static const struct pci_device_ops bochs_pci_ops = {
	.bar_read = bar_read, .bar_write = bar_write, .bar_moved = bar_moved,
};

/* ---- what display.h reads ---- */

const uint8_t *bochs_frame(struct bochs *b, struct display_mode *mode)
{
	pthread_mutex_lock(&b->lock);
	if (stdvga_showing(b)) {
		const uint8_t *t = stdvga_frame(b, mode);
		pthread_mutex_unlock(&b->lock);
		return t;
	}
	const struct dispi_mode *m = &b->mode;
	*mode = (struct display_mode){ m->enabled, m->width, m->height, m->stride, m->bpp, b->generation };
	const uint8_t *p = m->enabled ? b->vram + m->offset : NULL;
	pthread_mutex_unlock(&b->lock);
	return p;
}

/* Set the bits of the lines of mode m that page p's bytes fall on. */
static void page_lines(const struct dispi_mode *m, uint64_t p, uint64_t *lines, uint32_t n)
{
	uint64_t lo = p * PAGE, hi = lo + PAGE;
	if (hi <= m->offset)
		return;
	uint64_t y0 = lo > m->offset ? (lo - m->offset) / m->stride : 0;
	uint64_t y1 = (hi - 1 - m->offset) / m->stride;
	/* the page may start past the shown part of line y0 (in its virtual width) */
	if (lo > m->offset && (lo - m->offset) % m->stride >= (uint64_t)m->width * 4)
		y0++;
	for (uint64_t y = y0; y <= y1 && y < n; y++)
		bitmap_set(lines, y);
}

int bochs_changed(struct bochs *b, uint64_t *lines, uint32_t nbits)
{
	memset(lines, 0, BITMAP_WORDS(nbits) * 8);
	pthread_mutex_lock(&b->lock);
	if (stdvga_showing(b)) {
		int t = stdvga_changed(b, lines, nbits);
		pthread_mutex_unlock(&b->lock);
		return t;
	}
	const struct dispi_mode *m = &b->mode;
	uint64_t npages = vram_pages(b);
	int r = 0;
	if (b->slot_gpa && (r = kvm_slot_take_dirty(b->kvm, FB_SLOT, npages, b->scratch)) < 0) {
		pthread_mutex_unlock(&b->lock);
		return r;
	}
	if (!b->slot_gpa)
		memset(b->scratch, 0, BITMAP_WORDS(npages) * 8);
	for (uint64_t w = 0; w < BITMAP_WORDS(npages); w++) {
		b->scratch[w] |= b->dirty[w];
		b->dirty[w] = 0;
	}
	uint32_t n = m->enabled ? (m->height < nbits ? m->height : nbits) : 0;
	if (b->all_dirty || b->reported != b->generation) {
		for (uint32_t y = 0; y < n; y++)
			bitmap_set(lines, y);
	} else if (n) {
		for (uint64_t p = 0; p < npages; p++)
			if (b->scratch[p / 64] && bitmap_test(b->scratch, p))
				page_lines(m, p, lines, n);
	}
	b->all_dirty = false;
	b->reported = b->generation;
	pthread_mutex_unlock(&b->lock);
	int count = 0;
	for (uint32_t w = 0; w < BITMAP_WORDS(n); w++)
		count += __builtin_popcountll(lines[w]);
	return count;
}

/* ---- life ---- */

static uint64_t vram_for(uint32_t w, uint32_t h)
{
	uint64_t need = (uint64_t)w * h * 4, size = BOCHS_VRAM_MIN;
	while (size < need)
		size <<= 1;
	return size;
}

int bochs_create(struct bochs *b, const struct bochs_params *p, struct kvm *kvm, struct pci_bus *bus,
		 char *err, size_t errlen)
{
	memset(b, 0, sizeof(*b));
	uint64_t size = p->vram_size ? p->vram_size : vram_for(p->width, p->height);
	if (size < PAGE || (size & (size - 1)) || size > (1ull << 31))
		return error_set(err, errlen, -EINVAL, "bochs-display: %llu bytes of video memory is no power of two "
				 "from 4 KiB to 2 GiB", (unsigned long long)size);
	pthread_mutex_init(&b->lock, NULL);
	b->kvm = kvm;
	b->vram_size = size;
	b->vram = mmap(NULL, b->vram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->vram == MAP_FAILED) {
		b->vram = NULL;
		return error_set(err, errlen, -errno, "bochs-display: cannot map %llu bytes of video memory: %s",
				 (unsigned long long)b->vram_size, strerror(errno));
	}
	b->dirty = calloc(BITMAP_WORDS(vram_pages(b)), 8);
	b->scratch = calloc(BITMAP_WORDS(vram_pages(b)), 8);
	if (!b->dirty || !b->scratch) {
		bochs_destroy(b);
		return error_oom(err, errlen);
	}
	edid_build(b->edid, p->width, p->height);
	dispi_init(&b->st.dispi);
	if (p->vga && stdvga_create(b) < 0) {
		bochs_destroy(b);
		return error_oom(err, errlen);
	}
	/* class 03/80 (display controller, other) or 03/00 (VGA), QEMU's subsystem ids */
	pci_device_init(&b->pci, p->vga ? "stdvga" : "bochs-display", BOCHS_VENDOR, BOCHS_DEVICE,
			p->vga ? 0x030000 : 0x038000, 2, 0x1af4, 0x1100, &bochs_pci_ops, b);
	pci_device_set_bar(&b->pci, 0, (uint32_t)b->vram_size);
	b->pci.st.cfg[PCI_BAR0] |= 0x08;    /* prefetchable */
	pci_device_set_bar(&b->pci, 2, BOCHS_MMIO_SIZE);
	int e = bus ? pci_bus_add(bus, &b->pci) : 0;
	if (e < 0) {
		bochs_destroy(b);
		return error_set(err, errlen, e, "%s: no room on the PCI bus: %s", b->pci.name, strerror(-e));
	}
	if (bus)
		log_info("%s: PCI 00:%02x.0, %llu MiB of video memory, EDID %ux%u", b->pci.name, b->pci.slot,
			 (unsigned long long)(b->vram_size >> 20), p->width, p->height);
	return 0;
}

void bochs_destroy(struct bochs *b)
{
	if (b->kvm && b->slot_gpa)
		kvm_set_user_memory(b->kvm, FB_SLOT, b->slot_gpa, 0, NULL, 0);
	b->slot_gpa = 0;
	if (b->vram)
		munmap(b->vram, b->vram_size);
	b->vram = NULL;
	free(b->dirty);
	free(b->scratch);
	b->dirty = b->scratch = NULL;
	stdvga_destroy(b);
	pthread_mutex_destroy(&b->lock);
}

void bochs_reset(struct bochs *b)
{
	pthread_mutex_lock(&b->lock);
	dispi_init(&b->st.dispi);
	if (b->vga)
		stdvga_reset(b);
	clear_vram(b);
	recompute_mode(b);
	pthread_mutex_unlock(&b->lock);
}
