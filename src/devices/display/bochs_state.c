/* bochs-display's saved state (section BOCH, docs/snapshots.md): its configuration space, the
 * DISPI registers and the pages of video memory that are not zero, so a restored VM shows the
 * same screen. Snapshots, migration and replication carry it (devices/dev_state.h). */
#include "devices/display/bochs.h"
#include "devices/dev_state.h"
#include "memory/guest_mem.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096u

static void bochs_save_state(void *dev, struct enc *e)
{
	struct bochs *b = dev;
	pci_device_save_cfg(&b->pci, e);
	pthread_mutex_lock(&b->lock);
	for (unsigned i = 0; i < DISPI_NREGS; i++)
		put_u16(e, b->st.dispi.regs[i]);
	put_u64(e, b->vram_size);
	uint32_t n = 0;
	for (uint64_t p = 0; p < b->vram_size / PAGE; p++)
		n += !guest_page_is_zero(b->vram + p * PAGE);
	put_u32(e, n);
	for (uint64_t p = 0; p < b->vram_size / PAGE; p++) {
		if (guest_page_is_zero(b->vram + p * PAGE))
			continue;
		put_u32(e, (uint32_t)p);
		put_bytes(e, b->vram + p * PAGE, PAGE);
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
			return error_set(err, errlen, -EINVAL, "bochs-display (BOCH): video memory page %u of %u cut short", i, n);
		if (p < next || p >= pages)
			return error_set(err, errlen, -EINVAL,
					 "bochs-display (BOCH): video memory page %u out of order or past the %llu pages",
					 p, (unsigned long long)pages);
		next = (uint64_t)p + 1;
		if (vram)
			get_bytes(d, vram + (uint64_t)p * PAGE, PAGE);
		else
			d->off += PAGE;
	}
	return 0;
}

static int bochs_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct bochs *b = dev;
	struct pci_config_state cfg;
	struct bochs_state st;
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
	/* first the whole list checked on a copy of the reader, so a bad one changes nothing */
	struct dec probe = *d;
	if ((e = read_pages(&probe, n, b->vram_size / PAGE, NULL, err, errlen)) < 0 ||
	    (e = dec_end(&probe, "bochs-display (BOCH)", err, errlen)) < 0)
		return e;
	if ((e = pci_device_restore(&b->pci, &cfg, err, errlen)) < 0)
		return e;
	pthread_mutex_lock(&b->lock);
	if (madvise(b->vram, b->vram_size, MADV_DONTNEED) < 0)
		memset(b->vram, 0, b->vram_size);
	read_pages(d, n, b->vram_size / PAGE, b->vram, err, errlen);
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
	.id = STATE_ID('B', 'O', 'C', 'H'), .version = 1,
	.save = bochs_save_state, .load = bochs_load_state,
};
