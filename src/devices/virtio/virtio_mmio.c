/* virtio-mmio, version 2 (modern). */
#include "devices/virtio/virtio_mmio.h"
#include "devices/dev_state.h"
#include "bus/bus.h"
#include "kvm/kvm_irq.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

static void mmio_interrupt(void *opaque, int q)
{
	struct virtio_mmio *m = opaque;
	m->vdev->st.isr |= q < 0 ? VIRTIO_ISR_CONFIG : VIRTIO_ISR_QUEUE;
	pci_irq_set(&m->irq, true);
}

static const struct virtio_transport_ops mmio_transport = { mmio_interrupt };

static uint32_t reg_read(struct virtio_mmio *m, uint32_t off)
{
	struct virtio_dev *d = m->vdev;
	struct virtq_state *q = virtio_selected_queue(d);
	switch (off) {
	case 0x000: return VIRTIO_MMIO_MAGIC;
	case 0x004: return 2;
	case 0x008: return d->device_id;
	case 0x00c: return VIRTIO_MMIO_VENDOR;
	case 0x010: return virtio_get_device_features(d);
	case 0x034: return q ? q->max_size : 0;
	case 0x044: return q ? q->ready : 0;
	case 0x060: return d->st.isr;
	case 0x070: return d->st.status;
	case 0x0b0: case 0x0b4: return 0xffffffff; /* SHMLen: no shared memory regions */
	case 0x0fc: return d->st.config_generation;
	default: return 0;
	}
}

static void set_half(uint64_t *a, bool high, uint32_t v)
{
	if (high)
		*a = (*a & 0xffffffffull) | ((uint64_t)v << 32);
	else
		*a = (*a & ~0xffffffffull) | v;
}

static void reg_write(struct virtio_mmio *m, uint32_t off, uint32_t v)
{
	struct virtio_dev *d = m->vdev;
	struct virtq_state *q = virtio_selected_queue(d);
	unsigned qi = d->st.queue_sel;
	bool qw = q && virtio_queue_writable(d, qi);
	switch (off) {
	case 0x014: d->st.device_feature_sel = v; break;
	case 0x020: virtio_set_driver_features(d, v); break;
	case 0x024: d->st.driver_feature_sel = v; break;
	case 0x030: d->st.queue_sel = (uint16_t)(v > 0xffff ? 0xffff : v); break;
	case 0x038: if (qw) q->size = (uint16_t)(v > 0xffff ? 0 : v); break;
	case 0x044: if (q) virtio_queue_set_ready(d, qi, v == 1); break;
	case 0x050: virtio_queue_kick(d, v); break; /* no ioeventfd caught it */
	case 0x064:
		d->st.isr &= (uint8_t)~v;
		if (!d->st.isr)
			pci_irq_set(&m->irq, false);
		break;
	case 0x070:
		virtio_set_status(d, (uint8_t)v);
		if (v == 0) {
			d->st.isr = 0;
			pci_irq_set(&m->irq, false);
		}
		break;
	case 0x080: if (qw) set_half(&q->desc_gpa, false, v); break;
	case 0x084: if (qw) set_half(&q->desc_gpa, true, v); break;
	case 0x090: if (qw) set_half(&q->avail_gpa, false, v); break;
	case 0x094: if (qw) set_half(&q->avail_gpa, true, v); break;
	case 0x0a0: if (qw) set_half(&q->used_gpa, false, v); break;
	case 0x0a4: if (qw) set_half(&q->used_gpa, true, v); break;
	default: break;
	}
}

void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	struct virtio_dev *d = m->vdev;
	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (off >= 0x100)
		virtio_config_access(d, (uint32_t)(off - 0x100), data, len, false);
	else if (len == 4 && !(off & 3))
		pci_put(data, 0, reg_read(m, (uint32_t)off), 4);
	pthread_mutex_unlock(&d->lock);
}

void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	struct virtio_dev *d = m->vdev;
	if (off == 0x050 && len == 4) {
		virtio_queue_kick(d, pci_get(data, 0, 4));
		return;
	}
	pthread_mutex_lock(&d->lock);
	if (off >= 0x100)
		virtio_config_access(d, (uint32_t)(off - 0x100), (uint8_t *)data, len, true);
	else if (len == 4 && !(off & 3))
		reg_write(m, (uint32_t)off, pci_get(data, 0, 4));
	pthread_mutex_unlock(&d->lock);
}

int virtio_mmio_create(struct virtio_mmio *m, struct virtio_dev *vdev, struct bus *mmio,
		       uint64_t base, uint32_t gsi, struct pci_bus *irqs, struct kvm *kvm)
{
	memset(m, 0, sizeof(*m));
	m->vdev = vdev;
	m->kvm = kvm;
	m->base = base;
	m->gsi = gsi;
	pci_irq_init(&m->irq, irqs, gsi);
	virtio_dev_set_transport(vdev, &mmio_transport, m);
	int err = bus_register(mmio, base, VIRTIO_MMIO_SIZE, vdev->name, virtio_mmio_read, virtio_mmio_write, m);
	if (err < 0)
		return err;
	if (kvm) {
		for (unsigned q = 0; q < vdev->nqueues; q++) {
			err = kvm_ioeventfd(kvm, vdev->notify_fd[q], base + 0x50, 4, false, true, q, true);
			if (err < 0)
				return err;
		}
		m->notify_bound = true;
	}
	return 0;
}

void virtio_mmio_reset(struct virtio_mmio *m)
{
	pthread_mutex_lock(&m->vdev->lock);
	reg_write(m, 0x070, 0); /* the driver's status 0 */
	pthread_mutex_unlock(&m->vdev->lock);
}

void virtio_mmio_restore(struct virtio_mmio *m)
{
	pthread_mutex_lock(&m->vdev->lock);
	if (m->vdev->st.isr)
		pci_irq_set(&m->irq, true);
	pthread_mutex_unlock(&m->vdev->lock);
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	if (m->notify_bound && m->kvm)
		for (unsigned q = 0; q < m->vdev->nqueues; q++)
			kvm_ioeventfd(m->kvm, m->vdev->notify_fd[q], m->base + 0x50, 4, false, true, q, false);
	m->notify_bound = false;
}

/* ---- saved state (section VIRT on MMIO, docs/snapshots.md): the common virtio state; the
 * window's registers are all in it ---- */

static void vmmio_save_state(void *dev, struct enc *e)
{
	struct virtio_mmio *m = dev;
	virtio_state_put(e, m->vdev, VIRTIO_SAVED_MMIO);
}

static int vmmio_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_mmio *m = dev;
	struct virtio_state st;
	uint64_t features;
	int e = virtio_state_get(d, m->vdev, VIRTIO_SAVED_MMIO, &st, &features, err, errlen);
	if (!e && (e = dec_end(d, m->vdev->name, err, errlen)) == 0 &&
	    (e = virtio_restore(m->vdev, &st, features, err, errlen)) == 0) {
		virtio_mmio_restore(m);
		virtio_restored(m->vdev);
	}
	return e;
}

const struct dev_state_ops virtio_mmio_state_ops = {
	.id = STATE_ID('V', 'I', 'R', 'T'), .version = 1,
	.save = vmmio_save_state, .load = vmmio_load_state,
};
