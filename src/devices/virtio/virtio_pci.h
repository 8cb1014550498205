/* The virtio-pci transport (virtio 1.x section 4.1, modern devices only): a PCI function with
 * vendor 0x1AF4, device 0x1040 + virtio id, one 32 KiB memory BAR holding the common
 * configuration, ISR, device configuration, notification area (one 16-bit register per
 * queue, each an ioeventfd) and the MSI-X table and PBA. Interrupts are MSI-X through KVM
 * irqfds when the driver enables MSI-X, INTx otherwise. */
#ifndef PETREL_DEVICES_VIRTIO_VIRTIO_PCI_H
#define PETREL_DEVICES_VIRTIO_VIRTIO_PCI_H

#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"

struct kvm;
struct kvm_routes;

/* BAR 0 layout */
#define VIRTIO_PCI_BAR_SIZE 0x8000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_COMMON_LEN 0x38
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_DEVICE_LEN 0x1000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x4000
#define VIRTIO_PCI_MSIX_PBA_OFF 0x5000

/* virtio_pci_cap cfg_type */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	struct virtio_dev *vdev;
	struct kvm *kvm;
	struct pci_irq intx;
	uint64_t notify_gpa;         /* where the queue ioeventfds are bound (0: nowhere) */
	uint8_t pci_cfg_cap;         /* offset of the VIRTIO_PCI_CAP_PCI_CFG capability */
};

/* Put vdev on the bus. kvm/routes may be NULL (tests): then no ioeventfds/irqfds. */
int virtio_pci_create(struct virtio_pci *vp, struct virtio_dev *vdev, struct pci_bus *bus,
		      struct kvm *kvm, struct kvm_routes *routes);
/* After virtio_restore: the function's saved configuration space (BARs, and with them the
 * notification ioeventfds) and MSI-X state; a pending INTx is raised again. */
int virtio_pci_restore(struct virtio_pci *vp, const struct pci_config_state *cfg,
		       const struct msix_state *msix, char *err, size_t errlen);
/* The machine's reset: the device as after the driver's status 0, MSI-X off and masked, INTx
 * low (the function's configuration space is the bus's: pci_bus_reset). */
void virtio_pci_reset(struct virtio_pci *vp);
/* Unbind ioeventfds and irqfds (before virtio_dev_destroy). */
void virtio_pci_destroy(struct virtio_pci *vp);

/* Its saved state, with the device's common virtio state (section VIRT; dev: the struct virtio_pci):
 * devices/dev_state.h, docs/snapshots.md. Loading it restores the device and activates it. */
struct dev_state_ops;
extern const struct dev_state_ops virtio_pci_state_ops;

#endif
