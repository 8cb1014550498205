/* virtio-pci (modern): register layout, capabilities, MSI-X/INTx interrupts, ioeventfds. */
#include "devices/virtio/virtio_pci.h"
#include "devices/dev_state.h"
#include "kvm/kvm_irq.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define VP(dev) ((struct virtio_pci *)(dev)->opaque)

static uint32_t class_for(uint32_t id)
{
	switch (id) {
	case VIRTIO_ID_BLOCK: return 0x018000;  /* mass storage, other */
	case VIRTIO_ID_NET: return 0x020000;    /* ethernet */
	default: return 0xff0000;               /* unassigned class */
	}
}

/* ---- interrupts ---- */

static void vp_interrupt(void *opaque, int q)
{
	struct virtio_pci *vp = opaque;
	struct virtio_dev *d = vp->vdev;
	if (msix_enabled(&vp->msix)) {
		uint16_t vec = q < 0 ? d->st.config_msix_vector : d->st.queues[q].msix_vector;
		if (vec != VIRTIO_NO_VECTOR)
			msix_notify(&vp->msix, vec);
		return;
	}
	d->st.isr |= q < 0 ? VIRTIO_ISR_CONFIG : VIRTIO_ISR_QUEUE;
	pci_irq_set(&vp->intx, true);
}

static const struct virtio_transport_ops vp_transport = { vp_interrupt };

/* ---- ioeventfds on the notification area ---- */

static void bind_notify(struct virtio_pci *vp, uint64_t gpa, bool assign)
{
	if (!vp->kvm || !gpa)
		return;
	for (unsigned q = 0; q < vp->vdev->nqueues; q++)
		kvm_ioeventfd(vp->kvm, vp->vdev->notify_fd[q], gpa + VIRTIO_PCI_NOTIFY_OFF + q * VIRTIO_PCI_NOTIFY_MULT,
			      2, false, false, 0, assign);
}

static void vp_bar_moved(struct pci_device *dev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_pci *vp = VP(dev);
	if (bar != 0)
		return;
	bind_notify(vp, old_addr, false);
	bind_notify(vp, new_addr, true);
	vp->notify_gpa = new_addr;
}

/* ---- common configuration ---- */

static void common_image(struct virtio_pci *vp, uint8_t *b)
{
	struct virtio_dev *d = vp->vdev;
	struct virtq_state *q = virtio_selected_queue(d);
	memset(b, 0, VIRTIO_PCI_COMMON_LEN);
	pci_put(b, 0x00, d->st.device_feature_sel, 4);
	pci_put(b, 0x04, virtio_get_device_features(d), 4);
	pci_put(b, 0x08, d->st.driver_feature_sel, 4);
	uint64_t drv = d->st.driver_features;
	pci_put(b, 0x0c, d->st.driver_feature_sel == 0 ? (uint32_t)drv :
			 d->st.driver_feature_sel == 1 ? (uint32_t)(drv >> 32) : 0, 4);
	pci_put(b, 0x10, d->st.config_msix_vector, 2);
	pci_put(b, 0x12, d->nqueues, 2);
	b[0x14] = d->st.status;
	b[0x15] = (uint8_t)d->st.config_generation;
	pci_put(b, 0x16, d->st.queue_sel, 2);
	if (q) {
		pci_put(b, 0x18, q->size, 2);
		pci_put(b, 0x1a, q->msix_vector, 2);
		pci_put(b, 0x1c, q->ready, 2);
		pci_put(b, 0x1e, d->st.queue_sel, 2); /* queue_notify_off = queue index */
		pci_put(b, 0x20, (uint32_t)q->desc_gpa, 4);
		pci_put(b, 0x24, (uint32_t)(q->desc_gpa >> 32), 4);
		pci_put(b, 0x28, (uint32_t)q->avail_gpa, 4);
		pci_put(b, 0x2c, (uint32_t)(q->avail_gpa >> 32), 4);
		pci_put(b, 0x30, (uint32_t)q->used_gpa, 4);
		pci_put(b, 0x34, (uint32_t)(q->used_gpa >> 32), 4);
	}
}

static uint16_t valid_vector(struct virtio_pci *vp, uint16_t v)
{
	return v < vp->msix.nvec ? v : VIRTIO_NO_VECTOR;
}

static void set_addr(uint64_t *a, unsigned lo_off, unsigned off, const uint8_t *img)
{
	(void)off;
	*a = (uint64_t)pci_get(img, lo_off, 4) | ((uint64_t)pci_get(img, lo_off + 4, 4) << 32);
}

static void common_write(struct virtio_pci *vp, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_dev *d = vp->vdev;
	uint8_t img[VIRTIO_PCI_COMMON_LEN];
	if (off >= VIRTIO_PCI_COMMON_LEN || len > VIRTIO_PCI_COMMON_LEN - off)
		return;
	common_image(vp, img);
	memcpy(img + off, data, len);
	uint32_t end = off + len;
#define HIT(o, n) (off < (o) + (n) && end > (o))
	struct virtq_state *q = virtio_selected_queue(d);
	unsigned qi = d->st.queue_sel;
	if (HIT(0x00, 4))
		d->st.device_feature_sel = pci_get(img, 0x00, 4);
	if (HIT(0x08, 4))
		d->st.driver_feature_sel = pci_get(img, 0x08, 4);
	if (HIT(0x0c, 4))
		virtio_set_driver_features(d, pci_get(img, 0x0c, 4));
	if (HIT(0x10, 2))
		d->st.config_msix_vector = valid_vector(vp, (uint16_t)pci_get(img, 0x10, 2));
	if (HIT(0x16, 2))
		d->st.queue_sel = (uint16_t)pci_get(img, 0x16, 2);
	if (q && virtio_queue_writable(d, qi)) {
		if (HIT(0x18, 2))
			q->size = (uint16_t)pci_get(img, 0x18, 2);
		if (HIT(0x20, 8))
			set_addr(&q->desc_gpa, 0x20, off, img);
		if (HIT(0x28, 8))
			set_addr(&q->avail_gpa, 0x28, off, img);
		if (HIT(0x30, 8))
			set_addr(&q->used_gpa, 0x30, off, img);
	}
	if (q && HIT(0x1a, 2))
		q->msix_vector = valid_vector(vp, (uint16_t)pci_get(img, 0x1a, 2));
	if (q && HIT(0x1c, 2) && pci_get(img, 0x1c, 2) == 1)
		virtio_queue_set_ready(d, qi, true);
	if (HIT(0x14, 1)) {
		virtio_set_status(d, img[0x14]);
		if (img[0x14] == 0) {
			d->st.isr = 0;
			pci_irq_set(&vp->intx, false);
		}
	}
#undef HIT
}

/* ---- BAR 0 ---- */

static void vp_bar_read(struct pci_device *dev, int bar, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = VP(dev);
	struct virtio_dev *d = vp->vdev;
	memset(data, 0, len);
	if (bar != 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN) {
		uint8_t img[VIRTIO_PCI_COMMON_LEN];
		common_image(vp, img);
		for (uint32_t i = 0; i < len && off + i < VIRTIO_PCI_COMMON_LEN; i++)
			data[i] = img[off + i];
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		data[0] = d->st.isr;  /* reading clears it and lowers INTx */
		d->st.isr = 0;
		pci_irq_set(&vp->intx, false);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_DEVICE_OFF + VIRTIO_PCI_DEVICE_LEN) {
		virtio_config_access(d, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), data, len, false);
	} else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF) {
		msix_table_read(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len);
	} else if (off >= VIRTIO_PCI_MSIX_PBA_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF + 0x1000) {
		msix_pba_read(&vp->msix, off - VIRTIO_PCI_MSIX_PBA_OFF, data, len);
	}
	pthread_mutex_unlock(&d->lock);
}

static void vp_bar_write(struct pci_device *dev, int bar, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = VP(dev);
	struct virtio_dev *d = vp->vdev;
	if (bar != 0)
		return;
	if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_NOTIFY_OFF + (uint64_t)d->nqueues * VIRTIO_PCI_NOTIFY_MULT) {
		/* No ioeventfd caught it (odd access size, or none bound): same effect. */
		virtio_queue_kick(d, (unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT));
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (off < VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_LEN)
		common_write(vp, (uint32_t)off, data, len);
	else if (off >= VIRTIO_PCI_DEVICE_OFF && off < VIRTIO_PCI_DEVICE_OFF + VIRTIO_PCI_DEVICE_LEN)
		virtio_config_access(d, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), (uint8_t *)data, len, true);
	else if (off >= VIRTIO_PCI_MSIX_TABLE_OFF && off < VIRTIO_PCI_MSIX_PBA_OFF)
		msix_table_write(&vp->msix, off - VIRTIO_PCI_MSIX_TABLE_OFF, data, len);
	pthread_mutex_unlock(&d->lock);
}

/* ---- configuration space hooks: MSI-X control and the PCI cfg access window ---- */

static bool cfg_window(struct virtio_pci *vp, uint32_t off, uint32_t len, uint32_t *boff, uint32_t *blen)
{
	uint8_t c = vp->pci_cfg_cap;
	const uint8_t *cfg = vp->pci.st.cfg;
	if (!c || off + len <= c + 16u || off >= c + 20u)
		return false;
	*blen = pci_get(cfg, c + 12, 4);
	*boff = pci_get(cfg, c + 8, 4);
	return cfg[c + 4] == 0 && (*blen == 1 || *blen == 2 || *blen == 4) && *boff % *blen == 0 &&
	       *boff < VIRTIO_PCI_BAR_SIZE;
}

static void vp_cfg_read(struct pci_device *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = VP(dev);
	uint32_t boff, blen;
	if (!cfg_window(vp, off, len, &boff, &blen))
		return;
	uint8_t buf[4] = { 0 };
	vp_bar_read(dev, 0, boff, buf, blen);
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;
		if (o >= vp->pci_cfg_cap + 16u && o < vp->pci_cfg_cap + 20u)
			data[i] = buf[o - vp->pci_cfg_cap - 16u];
	}
}

static void vp_cfg_write(struct pci_device *dev, uint32_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = VP(dev);
	pthread_mutex_lock(&vp->vdev->lock);
	msix_config_written(&vp->msix, off, len);
	pthread_mutex_unlock(&vp->vdev->lock);
	uint32_t boff, blen;
	if (cfg_window(vp, off, len, &boff, &blen) && off == vp->pci_cfg_cap + 16u && len >= blen) {
		vp_bar_write(dev, 0, boff, data, blen);
		memset(vp->pci.st.cfg + vp->pci_cfg_cap + 16, 0, 4);
	}
}

static const struct pci_device_ops vp_ops = {
	.bar_read = vp_bar_read,
	.bar_write = vp_bar_write,
	.bar_moved = vp_bar_moved,
	.cfg_read = vp_cfg_read,
	.cfg_write = vp_cfg_write,
};

static uint8_t add_vcap(struct pci_device *p, uint8_t len, uint8_t type, uint32_t off, uint32_t length)
{
	uint8_t c = pci_add_capability(p, PCI_CAP_ID_VNDR, len);
	if (!c)
		return 0;
	p->st.cfg[c + 2] = len;
	p->st.cfg[c + 3] = type;
	p->st.cfg[c + 4] = 0; /* BAR 0 */
	pci_put(p->st.cfg, c + 8, off, 4);
	pci_put(p->st.cfg, c + 12, length, 4);
	return c;
}

int virtio_pci_create(struct virtio_pci *vp, struct virtio_dev *vdev, struct pci_bus *bus,
		      struct kvm *kvm, struct kvm_routes *routes)
{
	memset(vp, 0, sizeof(*vp));
	vp->vdev = vdev;
	vp->kvm = kvm;
	struct pci_device *p = &vp->pci;
	pci_device_init(p, vdev->name, 0x1af4, (uint16_t)(0x1040 + vdev->device_id), class_for(vdev->device_id),
			1, 0x1af4, 0x40, &vp_ops, vp);
	pci_device_set_bar(p, 0, VIRTIO_PCI_BAR_SIZE);
	int err = msix_init(&vp->msix, p, vdev->nqueues + 1, 0, VIRTIO_PCI_MSIX_TABLE_OFF,
			    VIRTIO_PCI_MSIX_PBA_OFF, kvm, routes);
	if (err < 0)
		return err;
	if (!add_vcap(p, 16, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN) ||
	    !add_vcap(p, 16, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1) ||
	    !add_vcap(p, 16, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF, VIRTIO_PCI_DEVICE_LEN))
		return -ENOSPC;
	uint8_t n = add_vcap(p, 20, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
			     vdev->nqueues * VIRTIO_PCI_NOTIFY_MULT);
	if (!n)
		return -ENOSPC;
	pci_put(p->st.cfg, n + 16, VIRTIO_PCI_NOTIFY_MULT, 4);
	vp->pci_cfg_cap = add_vcap(p, 20, VIRTIO_PCI_CAP_PCI_CFG, 0, 0);
	if (!vp->pci_cfg_cap)
		return -ENOSPC;
	/* bar, offset, length and data of the access window are writable */
	p->wmask[vp->pci_cfg_cap + 4] = 0xff;
	memset(p->wmask + vp->pci_cfg_cap + 8, 0xff, 12);
	virtio_dev_set_transport(vdev, &vp_transport, vp);
	err = pci_bus_add(bus, p);
	if (err < 0)
		return err;
	pci_irq_init(&vp->intx, bus, pci_intx_gsi(p->slot));
	return 0;
}

int virtio_pci_restore(struct virtio_pci *vp, const struct pci_config_state *cfg,
		       const struct msix_state *msix, char *err, size_t errlen)
{
	int e = pci_device_restore(&vp->pci, cfg, err, errlen);
	if (e < 0)
		return e;
	pthread_mutex_lock(&vp->vdev->lock);
	e = msix_restore(&vp->msix, msix, err, errlen);
	if (!e && !msix_enabled(&vp->msix) && vp->vdev->st.isr)
		pci_irq_set(&vp->intx, true);
	pthread_mutex_unlock(&vp->vdev->lock);
	return e;
}

void virtio_pci_reset(struct virtio_pci *vp)
{
	pthread_mutex_lock(&vp->vdev->lock);
	virtio_reset(vp->vdev);
	msix_reset(&vp->msix);
	pci_irq_set(&vp->intx, false);
	pthread_mutex_unlock(&vp->vdev->lock);
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	bind_notify(vp, vp->notify_gpa, false);
	vp->notify_gpa = 0;
	msix_destroy(&vp->msix);
}

/* ---- saved state (section VIRT on PCI, docs/snapshots.md): the common virtio state, then the
 * function's configuration space and MSI-X ---- */

static void vpci_save_state(void *dev, struct enc *e)
{
	struct virtio_pci *vp = dev;
	virtio_state_put(e, vp->vdev, VIRTIO_SAVED_PCI);
	pthread_mutex_lock(&vp->vdev->lock);
	put_bytes(e, vp->pci.st.cfg, sizeof(vp->pci.st.cfg));
	const struct msix_state *m = &vp->msix.st;
	put_bool(e, m->enabled);
	put_bool(e, m->masked);
	put_u16(e, (uint16_t)vp->msix.nvec);
	for (unsigned v = 0; v < vp->msix.nvec; v++) {
		put_u32(e, m->table[v].addr_lo);
		put_u32(e, m->table[v].addr_hi);
		put_u32(e, m->table[v].data);
		put_u32(e, m->table[v].ctrl);
	}
	put_u64(e, m->pba);
	pthread_mutex_unlock(&vp->vdev->lock);
}

struct vpci_saved {
	struct virtio_state st;
	struct pci_config_state cfg;
	struct msix_state msix;
};

static int vpci_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_pci *vp = dev;
	struct vpci_saved *s = calloc(1, sizeof(*s));
	uint64_t features;
	if (!s)
		return -ENOMEM;
	int e = virtio_state_get(d, vp->vdev, VIRTIO_SAVED_PCI, &s->st, &features, err, errlen);
	get_bytes(d, s->cfg.cfg, sizeof(s->cfg.cfg));
	s->msix.enabled = get_bool(d);
	s->msix.masked = get_bool(d);
	unsigned nvec = get_u16(d);
	if (!e && !d->err && nvec != vp->msix.nvec)
		e = error_set(err, errlen, -EINVAL, "%s: the snapshot's function has %u MSI-X vectors, this one %u", vp->vdev->name,
			 nvec, vp->msix.nvec);
	for (unsigned v = 0; !e && v < vp->msix.nvec; v++) {
		s->msix.table[v].addr_lo = get_u32(d);
		s->msix.table[v].addr_hi = get_u32(d);
		s->msix.table[v].data = get_u32(d);
		s->msix.table[v].ctrl = get_u32(d);
	}
	s->msix.pba = get_u64(d);
	if (!e)
		e = dec_end(d, vp->vdev->name, err, errlen);
	if (!e && (e = virtio_restore(vp->vdev, &s->st, features, err, errlen)) == 0 &&
	    (e = virtio_pci_restore(vp, &s->cfg, &s->msix, err, errlen)) == 0)
		virtio_restored(vp->vdev);
	free(s);
	return e;
}

const struct dev_state_ops virtio_pci_state_ops = {
	.id = STATE_ID('V', 'I', 'R', 'T'), .version = 1,
	.save = vpci_save_state, .load = vpci_load_state,
};
