/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny virtio 1.x driver for the test guests (see virtio_common.h). */
#include "virtio_common.h"

static inline uint8_t r8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t r16(uintptr_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t r32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void w8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void w16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void w32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

static void cfg_addr(unsigned slot, unsigned off)
{
	outl(0xcf8, 0x80000000u | (slot << 11) | (off & 0xfc));
}

uint32_t pci_cfg_read32(unsigned slot, unsigned off) { cfg_addr(slot, off); return inl(0xcfc); }
uint16_t pci_cfg_read16(unsigned slot, unsigned off) { cfg_addr(slot, off); return inw((uint16_t)(0xcfc + (off & 2))); }
uint8_t pci_cfg_read8(unsigned slot, unsigned off) { cfg_addr(slot, off); return inb((uint16_t)(0xcfc + (off & 3))); }
void pci_cfg_write32(unsigned slot, unsigned off, uint32_t v) { cfg_addr(slot, off); outl(0xcfc, v); }
void pci_cfg_write16(unsigned slot, unsigned off, uint16_t v) { cfg_addr(slot, off); outw((uint16_t)(0xcfc + (off & 2)), v); }

/* The address BAR bar of slot points at (as firmware or the VMM assigned it): petrel puts
 * every virtio-pci structure in BAR 0, QEMU in a 64-bit BAR 4 and the MSI-X table in BAR 1, so
 * each capability's own BAR is read. A BAR above 4 GiB is outside the guests' identity map. */
static uintptr_t pci_bar(unsigned slot, unsigned bar)
{
	if (bar > 5)
		return 0;
	uint32_t lo = pci_cfg_read32(slot, 0x10 + 4 * bar);
	if (lo & 1)
		return 0; /* an I/O BAR */
	uint64_t a = lo & ~0xfu;
	if ((lo & 6) == 4 && bar < 5)
		a |= (uint64_t)pci_cfg_read32(slot, 0x14 + 4 * bar) << 32;
	return a >> 32 ? 0 : (uintptr_t)a;
}

bool vpci_find(uint32_t device_id, unsigned nth, struct vdev *d)
{
	for (unsigned slot = 0; slot < 32; slot++) {
		uint32_t id = pci_cfg_read32(slot, 0);
		if (id != (0x1af4u | ((0x1040u + device_id) << 16)))
			continue;
		if (nth--)
			continue;
		memset(d, 0, sizeof(*d));
		d->slot = slot;
		d->device_id = device_id;
		/* memory decoding + bus mastering */
		pci_cfg_write16(slot, 0x04, pci_cfg_read16(slot, 0x04) | 0x6);
		for (uint8_t cap = pci_cfg_read8(slot, 0x34); cap; cap = pci_cfg_read8(slot, cap + 1u)) {
			uint8_t id8 = pci_cfg_read8(slot, cap);
			if (id8 == 0x11) {
				d->msix_cap = cap;
				uint32_t t = pci_cfg_read32(slot, cap + 4u);
				d->msix_table = pci_bar(slot, t & 7u) + (t & ~7u);
				continue;
			}
			if (id8 != 0x09)
				continue;
			uint8_t type = pci_cfg_read8(slot, cap + 3u);
			uintptr_t bar = pci_bar(slot, pci_cfg_read8(slot, cap + 4u));
			if (!bar)
				continue;
			uintptr_t addr = bar + pci_cfg_read32(slot, cap + 8u);
			switch (type) {
			case 1: d->common = addr; break;
			case 2: d->notify = addr; d->notify_mult = pci_cfg_read32(slot, cap + 16u); break;
			case 3: d->isr = addr; break;
			case 4: d->devcfg = addr; break;
			}
		}
		return d->common && d->notify && d->isr && d->devcfg;
	}
	return false;
}

bool vmmio_find(uint32_t device_id, unsigned nth, struct vdev *d)
{
	for (unsigned i = 0; i < 32; i++) {
		uintptr_t b = VMMIO_BASE + i * VMMIO_STRIDE;
		if (r32(b) != 0x74726976 || r32(b + 4) != 2 || r32(b + 8) != device_id)
			continue;
		if (nth--)
			continue;
		memset(d, 0, sizeof(*d));
		d->mmio = true;
		d->base = b;
		d->device_id = device_id;
		return true;
	}
	return false;
}

void vdev_set_status(struct vdev *d, uint8_t s)
{
	if (d->mmio)
		w32(d->base + 0x70, s);
	else
		w8(d->common + 0x14, s);
}

uint8_t vdev_status(struct vdev *d)
{
	return d->mmio ? (uint8_t)r32(d->base + 0x70) : r8(d->common + 0x14);
}

bool vdev_find(uint32_t device_id, bool mmio, struct vdev *d)
{
	return mmio ? vmmio_find(device_id, 0, d) : vpci_find(device_id, 0, d);
}

bool vdev_find_on_cmdline_transport(uint32_t device_id, struct vdev *d)
{
	static const char *const names[] = { [1] = "net", [2] = "blk", [3] = "console", [4] = "rng", [5] = "balloon", [19] = "vsock", [27] = "pmem" };
	const char *name = device_id < sizeof(names) / sizeof(names[0]) && names[device_id] ? names[device_id] : "?";
	bool mmio = cmdline_is("transport", "mmio");
	check(vdev_find(device_id, mmio, d), "no virtio-%s device on %s", name, mmio ? "virtio-mmio" : "PCI");
	return mmio;
}

bool vdev_broken(struct vdev *d)
{
	return vdev_status(d) & VS_NEEDS_RESET;
}

bool vdev_wait_broken(struct vdev *d, int seconds)
{
	struct deadline dl;
	deadline_start(&dl, seconds);
	for (;;) {
		for (int i = 0; i < 2000; i++)
			if (vdev_broken(d))
				return true;
		if (deadline_expired(&dl))
			return false;
	}
}

void vdev_reset(struct vdev *d)
{
	vdev_set_status(d, 0);
	while (vdev_status(d) != 0)
		pause();
}

uint64_t vdev_features(struct vdev *d)
{
	uint64_t f = 0;
	for (uint32_t sel = 0; sel < 2; sel++) {
		if (d->mmio) {
			w32(d->base + 0x14, sel);
			f |= (uint64_t)r32(d->base + 0x10) << (32 * sel);
		} else {
			w32(d->common + 0x00, sel);
			f |= (uint64_t)r32(d->common + 0x04) << (32 * sel);
		}
	}
	return f;
}

void vdev_set_driver_features(struct vdev *d, uint64_t f)
{
	for (uint32_t sel = 0; sel < 2; sel++) {
		if (d->mmio) {
			w32(d->base + 0x24, sel);
			w32(d->base + 0x20, (uint32_t)(f >> (32 * sel)));
		} else {
			w32(d->common + 0x08, sel);
			w32(d->common + 0x0c, (uint32_t)(f >> (32 * sel)));
		}
	}
}

bool vdev_negotiate(struct vdev *d, uint64_t want, uint64_t *got)
{
	vdev_reset(d);
	vdev_set_status(d, VS_ACK);
	vdev_set_status(d, VS_ACK | VS_DRIVER);
	uint64_t f = vdev_features(d) & want;
	vdev_set_driver_features(d, f);
	vdev_set_status(d, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	if (got)
		*got = f;
	return vdev_status(d) & VS_FEATURES_OK;
}

uint32_t vdev_cfg_read(struct vdev *d, unsigned off, unsigned len)
{
	uintptr_t a = d->mmio ? d->base + 0x100 + off : d->devcfg + off;
	return len == 1 ? r8(a) : len == 2 ? r16(a) : r32(a);
}

static void select_queue(struct vdev *d, unsigned q)
{
	if (d->mmio)
		w32(d->base + 0x30, q);
	else
		w16(d->common + 0x16, (uint16_t)q);
}

uint16_t vdev_queue_max(struct vdev *d, unsigned q)
{
	select_queue(d, q);
	return d->mmio ? (uint16_t)r32(d->base + 0x34) : r16(d->common + 0x18);
}

void vq_setup_raw(struct vdev *d, unsigned q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used, bool enable)
{
	select_queue(d, q);
	if (d->mmio) {
		w32(d->base + 0x38, size);
		w32(d->base + 0x80, (uint32_t)desc);
		w32(d->base + 0x84, (uint32_t)(desc >> 32));
		w32(d->base + 0x90, (uint32_t)avail);
		w32(d->base + 0x94, (uint32_t)(avail >> 32));
		w32(d->base + 0xa0, (uint32_t)used);
		w32(d->base + 0xa4, (uint32_t)(used >> 32));
		if (enable)
			w32(d->base + 0x44, 1);
	} else {
		w16(d->common + 0x18, size);
		w32(d->common + 0x20, (uint32_t)desc);
		w32(d->common + 0x24, (uint32_t)(desc >> 32));
		w32(d->common + 0x28, (uint32_t)avail);
		w32(d->common + 0x2c, (uint32_t)(avail >> 32));
		w32(d->common + 0x30, (uint32_t)used);
		w32(d->common + 0x34, (uint32_t)(used >> 32));
		if (enable)
			w16(d->common + 0x1c, 1);
	}
}

bool vq_setup(struct vdev *d, struct vq *vq, unsigned q, struct vq_mem *m, uint16_t size, uint16_t msix_vector)
{
	if (size > VQ_MAX || vdev_queue_max(d, q) < size)
		return false;
	memset(m, 0, sizeof(*m));
	memset(vq, 0, sizeof(*vq));
	vq->dev = d;
	vq->index = q;
	vq->size = size;
	vq->desc = m->desc;
	vq->avail = m->avail;
	vq->used = m->used;
	if (!d->mmio) {
		select_queue(d, q);
		w16(d->common + 0x1a, msix_vector);
		uint16_t off = r16(d->common + 0x1e);
		vq->notify_addr = d->notify + (uintptr_t)off * d->notify_mult;
	}
	vq_setup_raw(d, q, size, (uintptr_t)m->desc, (uintptr_t)m->avail, (uintptr_t)m->used, true);
	return true;
}

void vdev_driver_ok(struct vdev *d)
{
	vdev_set_status(d, vdev_status(d) | VS_DRIVER_OK);
}

void vdev_msix_setup(struct vdev *d, unsigned v, uint8_t vector)
{
	uintptr_t e = d->msix_table + 16 * v;
	w32(e + 0, 0xfee00000u);
	w32(e + 4, 0);
	w32(e + 8, vector);
	w32(e + 12, 0); /* unmask */
	uint16_t ctrl = pci_cfg_read16(d->slot, d->msix_cap + 2u);
	pci_cfg_write16(d->slot, d->msix_cap + 2u, (uint16_t)((ctrl | 0x8000) & ~0x4000));
}

void vdev_set_config_vector(struct vdev *d, uint16_t v)
{
	w16(d->common + 0x10, v);
}

uint8_t vdev_isr(struct vdev *d)
{
	if (!d->mmio)
		return r8(d->isr);
	uint32_t s = r32(d->base + 0x60);
	w32(d->base + 0x64, s);
	return (uint8_t)s;
}

void vq_publish(struct vq *vq, uint16_t head)
{
	vq->avail[2 + (vq->avail_idx & (vq->size - 1))] = head;
	virt_wmb();
	vq->avail_idx++;
	vq->avail[1] = vq->avail_idx;
	virt_mb();
}

bool vq_publish_since(struct vq *vq, uint16_t old)
{
	virt_wmb();
	vq->avail[1] = vq->avail_idx;
	virt_mb();
	uint16_t avail_event = *(volatile uint16_t *)(vq->used + 4 + 8 * vq->size);
	if ((uint16_t)(vq->avail_idx - avail_event - 1) >= (uint16_t)(vq->avail_idx - old))
		return false;
	vq_kick(vq);
	return true;
}

void vq_kick(struct vq *vq)
{
	if (vq->dev->mmio)
		w32(vq->dev->base + 0x50, vq->index);
	else
		w16(vq->notify_addr, (uint16_t)vq->index);
}

uint16_t vq_add(struct vq *vq, const struct vbuf *b, unsigned n)
{
	uint16_t head = vq->next_desc;
	for (unsigned i = 0; i < n; i++) {
		uint16_t id = (uint16_t)((head + i) & (vq->size - 1));
		struct vring_desc *dsc = &vq->desc[id];
		dsc->addr = (uintptr_t)b[i].addr;
		dsc->len = b[i].len;
		dsc->flags = (uint16_t)((b[i].write ? VD_WRITE : 0) | (i + 1 < n ? VD_NEXT : 0));
		dsc->next = (uint16_t)((id + 1) & (vq->size - 1));
	}
	vq->next_desc = (uint16_t)((head + n) & (vq->size - 1));
	vq_publish(vq, head);
	return head;
}

uint16_t vq_used_idx(struct vq *vq)
{
	return *(volatile uint16_t *)(vq->used + 2);
}

bool vq_poll(struct vq *vq, uint32_t *id, uint32_t *len)
{
	if (vq_used_idx(vq) == vq->last_used)
		return false;
	virt_rmb();
	volatile uint8_t *e = vq->used + 4 + 8 * (vq->last_used & (vq->size - 1));
	if (id)
		*id = *(volatile uint32_t *)e;
	if (len)
		*len = *(volatile uint32_t *)(e + 4);
	vq->last_used++;
	return true;
}

bool vq_wait(struct vq *vq, uint32_t *id, uint32_t *len, int seconds)
{
	struct deadline dl;
	deadline_start(&dl, seconds);
	for (;;) {
		for (int i = 0; i < 20000; i++) {
			if (vq_poll(vq, id, len))
				return true;
			pause();
		}
		if (deadline_expired(&dl))
			return vq_poll(vq, id, len);
	}
}
