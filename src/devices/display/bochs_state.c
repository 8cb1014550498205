/* bochs-display's saved state (section BOCH, docs/snapshots.md): its configuration space, the
 * DISPI registers and the pages of video memory that are not zero, so a restored VM shows the
 * same screen; version 2 adds stdvga's legacy VGA (its registers, the DISPI port's index and
 * the planes' pages that are not zero). Snapshots, migration and replication carry it
 * (devices/dev_state.h). */
#include "devices/display/bochs.h"
#include "devices/display/stdvga.h"
#include "devices/dev_state.h"
#include "memory/guest_mem.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096u

/* The pages of mem (size bytes) that are not zero: their count, then index and bytes each. */
static void put_pages(struct enc *e, const uint8_t *mem, uint64_t size)
{
	uint32_t n = 0;
	for (uint64_t p = 0; p < size / PAGE; p++)
		n += !guest_page_is_zero(mem + p * PAGE);
	put_u32(e, n);
	for (uint64_t p = 0; p < size / PAGE; p++) {
		if (guest_page_is_zero(mem + p * PAGE))
			continue;
		put_u32(e, (uint32_t)p);
		put_bytes(e, mem + p * PAGE, PAGE);
	}
}

/* The VGA's registers in their fixed order: written (e) or read (d). */
static void vga_regs_io(struct vga_regs *r, struct enc *e, struct dec *d)
{
	struct { void *p; size_t n; } f[] = {
		{ &r->misc, 1 }, { &r->feature, 1 }, { &r->pel_mask, 1 }, { &r->sr_index, 1 }, { r->sr, VGA_NSR },
		{ &r->gr_index, 1 }, { r->gr, VGA_NGR }, { &r->cr_index, 1 }, { r->cr, VGA_NCR },
		{ &r->ar_index, 1 }, { r->ar, VGA_NAR }, { &r->ar_flip, 1 }, { &r->dac_read, 1 }, { &r->dac_write, 1 },
		{ &r->dac_sub, 1 }, { &r->dac_state, 1 }, { r->dac_cache, 3 }, { r->palette, sizeof(r->palette) },
		{ r->latch, 4 }, { &r->retrace, 1 },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		if (e)
			put_bytes(e, f[i].p, f[i].n);
		else
			get_bytes(d, f[i].p, f[i].n);
	}
}

static void bochs_save_state(void *dev, struct enc *e)
{
	struct bochs *b = dev;
	pci_device_save_cfg(&b->pci, e);
	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < DISPI_NREGS; i++)
		put_u16(e, b->st.dispi.regs[i]);
	put_u64(e, b->vram_size);
	put_pages(e, b->vram, b->vram_size);
	put_bool(e, b->vga != NULL);
	if (b->vga) {
		vga_regs_io(&b->vga->vga.r, e, NULL);
		put_u16(e, b->vga->dispi_index);
		put_pages(e, &b->vga->vga.planes[0][0], sizeof(b->vga->vga.planes));
	}
	pthread_mutex_unlock(&b->lock);
}

/* The pages' list: indices below the video memory's pages and rising (none twice); with vram,
 * their bytes copied in. 0 or -EINVAL and why. */
static int read_pages(struct dec *d, uint32_t n, uint64_t pages, uint8_t *vram, char *err, size_t errlen)
{
	uint64_t next = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t p = get_u32(d);
		if (d->err || dec_left(d) < PAGE)
			return error_set(err, errlen, -EINVAL, "bochs-display (BOCH): memory page %u of %u cut short", i, n);
		if (p < next || p >= pages)
			return error_set(err, errlen, -EINVAL,
					 "bochs-display (BOCH): memory page %u out of order or past the %llu pages",
					 p, (unsigned long long)pages);
		next = (uint64_t)p + 1;
		if (vram)
			get_bytes(d, vram + (uint64_t)p * PAGE, PAGE);
		else
			d->off += PAGE;
	}
	return 0;
}

/* Version 2's tail: whether the device has the legacy VGA, then its registers (into r), the
 * DISPI port's index and the planes' pages (copied into planes, unless NULL). */
static int read_vga(struct dec *d, const struct bochs *b, struct vga_regs *r, uint16_t *index, uint8_t *planes,
		    char *err, size_t errlen)
{
	bool has = get_bool(d);
	if (d->err)
		return dec_end(d, "bochs-display (BOCH)", err, errlen);
	if (has != (b->vga != NULL))
		return error_set(err, errlen, -EINVAL, "bochs-display (BOCH): saved %s the legacy VGA, this device is %s",
				 has ? "with" : "without", b->pci.name);
	if (!has)
		return 0;
	vga_regs_io(r, NULL, d);
	*index = get_u16(d);
	uint32_t n = get_u32(d);
	if (d->err)
		return dec_end(d, "bochs-display (BOCH)", err, errlen);
	int e = vga_check(r, err, errlen);
	return e < 0 ? e : read_pages(d, n, sizeof(b->vga->vga.planes) / PAGE, planes, err, errlen);
}

static int bochs_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	struct bochs *b = dev;
	struct pci_config_state cfg;
	struct bochs_state st;
	struct vga_regs vr;
	uint16_t index = 0;
	get_bytes(d, cfg.cfg, sizeof(cfg.cfg));
	for (unsigned i = 0; i < DISPI_NREGS; i++)
		st.dispi.regs[i] = get_u16(d);
	uint64_t size = get_u64(d);
	uint32_t n = get_u32(d);
	if (d->err)
		return dec_end(d, "bochs-display (BOCH)", err, errlen);
	if (size != b->vram_size)
		return error_set(err, errlen, -EINVAL, "bochs-display (BOCH): saved with %llu bytes of video memory, this "
				 "device has %llu", (unsigned long long)size, (unsigned long long)b->vram_size);
	int e;
	if ((e = dispi_check(&st.dispi, err, errlen)) < 0 || (e = pci_device_check(&b->pci, &cfg, err, errlen)) < 0)
		return e;
	/* first the whole state checked on a copy of the reader, so a bad one changes nothing */
	struct dec probe = *d;
	if ((e = read_pages(&probe, n, b->vram_size / PAGE, NULL, err, errlen)) < 0 ||
	    (version >= 2 && (e = read_vga(&probe, b, &vr, &index, NULL, err, errlen)) < 0) ||
	    (e = dec_end(&probe, "bochs-display (BOCH)", err, errlen)) < 0)
		return e;
	if ((e = pci_device_restore(&b->pci, &cfg, err, errlen)) < 0)
		return e;
	pthread_mutex_lock(&b->lock);
	if (madvise(b->vram, b->vram_size, MADV_DONTNEED) < 0)
		memset(b->vram, 0, b->vram_size);
	read_pages(d, n, b->vram_size / PAGE, b->vram, err, errlen);
	if (b->vga) {   /* a version 1 state (bochs-display's) leaves the VGA as at power-on */
		stdvga_reset(b);
		if (version >= 2) {
			read_vga(d, b, &b->vga->vga.r, &b->vga->dispi_index, &b->vga->vga.planes[0][0], err, errlen);
			memset(b->vga->pending, 0xff, sizeof(b->vga->pending));
		}
	}
	b->st = st;
	struct dispi_mode m;
	char why[256];
	if (dispi_mode(&b->st.dispi, b->vram_size, &m, why, sizeof(why)) < 0)
		memset(&m, 0, sizeof(m));
	b->mode = m;
	b->generation++;
	b->all_dirty = true;
	pthread_mutex_unlock(&b->lock);
	return 0;
}

const struct dev_state_ops bochs_state_ops = {
	.id = STATE_ID('B', 'O', 'C', 'H'), .version = 2, .min_version = 1,
	.save = bochs_save_state, .load = bochs_load_state,
};
