/* The virtio-mmio transport (virtio 1.x section 4.2, version 2 register layout): a 512-byte
 * register window per device, a level-triggered interrupt line, and one ioeventfd per queue
 * on QueueNotify (matched on the queue index written). Guests find the devices through the
 * DSDT (LNRO0005 entries) or, for kernels built with CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, the
 * kernel command line (virtio_mmio.device=512@0xADDR:IRQ). */
#ifndef PETREL_DEVICES_VIRTIO_VIRTIO_MMIO_H
#define PETREL_DEVICES_VIRTIO_VIRTIO_MMIO_H

#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"

struct bus;
struct kvm;

#define VIRTIO_MMIO_SIZE 0x200
#define VIRTIO_MMIO_MAGIC 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR 0x4c525450 /* "PTRL" */

struct virtio_mmio {
	struct virtio_dev *vdev;
	struct kvm *kvm;
	uint64_t base;
	uint32_t gsi;
	struct pci_irq irq;          /* shared level line (the PCI bus keeps the counts) */
	bool notify_bound;
};

/* Map vdev at [base, base + VIRTIO_MMIO_SIZE) on the MMIO bus with interrupt `gsi`.
 * irqs: the PCI bus whose shared-line bookkeeping the interrupt uses. kvm may be NULL. */
int virtio_mmio_create(struct virtio_mmio *vm, struct virtio_dev *vdev, struct bus *mmio,
		       uint64_t base, uint32_t gsi, struct pci_bus *irqs, struct kvm *kvm);
void virtio_mmio_destroy(struct virtio_mmio *vm);
/* After virtio_restore: raise the interrupt line again if an interrupt was pending. */
void virtio_mmio_restore(struct virtio_mmio *vm);

/* The machine's reset: the device as after the driver's status 0, its interrupt low. */
void virtio_mmio_reset(struct virtio_mmio *vm);
/* Register accesses (exported for unit tests). */
void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* Its saved state, with the device's common virtio state (section VIRT; dev: the struct virtio_mmio):
 * devices/dev_state.h, docs/snapshots.md. Loading it restores the device and activates it. */
struct dev_state_ops;
extern const struct dev_state_ops virtio_mmio_state_ops;

#endif
