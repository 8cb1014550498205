/* The VM's paravirtual devices: the I/O thread, the GSI routing table, the PCI bus and the
 * virtio devices on their transports (PCI or MMIO), built from the vm_config device lists. */
#ifndef PETREL_VM_VM_DEVICES_H
#define PETREL_VM_VM_DEVICES_H

#include "arch/x86/acpi.h"
#include "config/pmem_config.h"
#include "devices/display/bochs.h"
#include "devices/e1000/e1000.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/vmgenid.h"
#include "devices/pci/pci.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/input.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/pmem.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vsock.h"
#include "devices/virtio/virtio_mem.h"
#include "devices/virtio/virtio_fs.h"
#include "config/fs_config.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_pci.h"
#include "kvm/kvm_irq.h"
#include "util/io_thread.h"
#include "vm/vcpu_hotplug.h"
#include "vm/vm_device.h"

#define VM_MAX_VIRTIO 32
#define VM_MAX_DEVICES (VM_MAX_VIRTIO + DEVICES_MAX_NETS)

/* A virtio device's transport: its PCI function or its virtio-mmio slot. */
struct vm_transport {
	bool mmio;
	union {
		struct virtio_pci pci;
		struct virtio_mmio mmio;
	} u;
};

struct vm_devices {
	struct io_thread io;
	bool io_ready;
	struct kvm_routes routes;
	bool routes_ready;
	struct pci_bus pci;
	bool pci_ready;
	struct vm_device dev[VM_MAX_DEVICES]; /* every attached device, in attach order (vm/vm_device.h) */
	unsigned ndev;
	struct vm_transport tr[VM_MAX_VIRTIO]; /* the virtio devices' transports, in attach order */
	unsigned ntr;
	unsigned nmmio;
	struct mmds *mmds;           /* the metadata service the MMDS interfaces answer from */
	struct ged ged;              /* ACPI event device and VM generation ID (unless --no-vmgenid) */
	struct vmgenid genid;
	struct vcpu_hotplug vcpuhp;  /* "vcpu-hotplug" (vm/vcpu_hotplug.h) */
	struct acpi_devices acpi;    /* what the DSDT must describe */
	struct display *display;     /* "display": what its readers see (devices/display/display.h), else NULL */
	char cmdline_extra[1024];    /* virtio_mmio.device=... (with --virtio-mmio-cmdline) */
};

struct vm;

/* Create the PCI bus and every configured device (after guest memory exists, before the ACPI
 * tables are written). Logs why on failure. */
int vm_devices_create(struct vm *vm);
/* Start the I/O thread; a VM not paused runs from here: pending notifications go out (a
 * restored VM's new generation ID). */
int vm_devices_start(struct vm *vm);
/* Pausing the VM: park the I/O thread (no queue is served, no tap read) and quiesce every
 * virtio device (in-flight block I/O completes, held receive buffers go back), so the device
 * state is all in the *_state structs and guest memory. Resume undoes it (and sends pending
 * notifications, as vm_devices_start does). */
int vm_devices_pause(struct vm *vm);
void vm_devices_resume(struct vm *vm);
/* The machine's reset, with the VM paused: every device in the list (vm_device_kind.reset),
 * the PCI bus, and the machine's own devices (UART, i8042, RTC, ACPI PM, GED, VM generation
 * ID, vCPU hot-plug registers) back to their creation state. */
void vm_devices_reset(struct vm *vm);
/* Stop the I/O thread, detach from KVM, free everything. Idempotent. */
void vm_devices_destroy(struct vm *vm);
/* The i-th device of a kind (its own struct: struct virtio_blk for DEV_BLK, ...), in attach
 * order; NULL past the end. */
void *vm_device_of(struct vm *vm, enum dev_kind kind, unsigned i);
/* Append a device made elsewhere to the list, without a transport (the attach adds one; the
 * white-box unit tests put their devices in this way): its state and counters are its kind's.
 * NULL when the list is full. */
struct vm_device *vm_devices_put(struct vm *vm, enum dev_kind kind, const char *id, void *dev,
				 struct virtio_dev *vdev);

/* One kind of device (vm_device_kinds.c, the table vm_devices_create walks in order). */
struct vm_device_kind {
	/* How many the definition has (NULL: another row makes them, as the interfaces' row
	 * makes E1000 cards among virtio-net devices). */
	unsigned (*count)(const struct vm_config *cfg);
	size_t size;                    /* its struct, which the attach allocates zeroed */
	/* The row whose make makes the i-th (NULL: this one): an interface's model. */
	enum dev_kind (*which)(const struct vm_config *cfg, unsigned i);
	/* Create the i-th in dev: name d->vdev (its virtio core, if it is a virtio device) and
	 * d->id, and a virtio device's transport in *tr. 0, or -errno (logged) with nothing held
	 * (the attach frees dev). */
	int (*make)(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr);
	/* Once the kind's devices are attached (MMDS on the interfaces). 0 or -errno (logged). */
	int (*after)(struct vm *vm);
	const struct dev_stats_ops *stats;
	/* A device that is no virtio device: its section, and its verbs that the virtio core
	 * provides for the others (destroy frees nothing but what the device holds). */
	const struct dev_state_ops *state;
	void (*destroy)(void *dev);
	void (*quiesce)(void *dev);
	void (*resume)(void *dev);
	/* The machine's reset (vm/vm_reset.c, the VM paused): the device back to its creation
	 * state, as the guest sees it. A virtio device's transport does the common part (the
	 * driver's status 0, its PCI function or MMIO registers as created); its row's reset adds
	 * what its own reset keeps on a driver's reset (virtio-mem's plugged blocks). NULL:
	 * nothing more. */
	void (*reset)(void *dev);
};
extern const struct vm_device_kind vm_device_kinds[DEV_KINDS];
/* The MMDS interfaces (vm_devices.c): the interfaces' row's after. */
int vm_devices_attach_mmds(struct vm *vm);
/* vm_devices_announce: in vm/vm.h (the layers above call it). */

#endif
