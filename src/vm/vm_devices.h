/* The VM's paravirtual devices: the I/O thread, the GSI routing table, the PCI bus and the
 * virtio devices on their transports (PCI or MMIO), built from the vm_config device lists. */
#ifndef PETREL_VM_VM_DEVICES_H
#define PETREL_VM_VM_DEVICES_H

#include "arch/x86/acpi.h"
#include "config/pmem_config.h"
#include "devices/e1000/e1000.h"
#include "devices/legacy/ged.h"
#include "devices/legacy/vmgenid.h"
#include "devices/pci/pci.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/blk/blk.h"
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

#define VM_MAX_VIRTIO 32

/* One virtio device on its transport. */
struct vm_virtio {
	struct virtio_dev *vdev;     /* embedded in the device struct below */
	bool mmio;
	union {
		struct virtio_pci pci;
		struct virtio_mmio mmio;
	} tr;
	void *dev;                   /* the device struct (malloc'd) */
};

struct vm_devices {
	struct io_thread io;
	bool io_ready;
	struct kvm_routes routes;
	bool routes_ready;
	struct pci_bus pci;
	bool pci_ready;
	struct vm_virtio virtio[VM_MAX_VIRTIO];
	unsigned nvirtio;
	unsigned nmmio;
	struct virtio_blk *blk[DEVICES_MAX_DRIVES];
	unsigned nblk;
	struct virtio_rng *rng;
	struct virtio_net *net[DEVICES_MAX_NETS];
	unsigned nnet;
	struct e1000 *e1000[DEVICES_MAX_NETS];   /* interfaces with "model": "e1000", in order */
	unsigned ne1000;
	struct virtio_vsock *vsock;
	struct virtio_balloon *balloon;
	struct virtio_mem *vmem;     /* virtio-mem ("memory-hotplug"), or NULL */
	struct virtio_pmem *pmem[PMEM_MAX_DEVICES]; /* in configuration order */
	unsigned npmem;
	struct virtio_fs *fs[FS_MAX_DEVICES];       /* virtio-fs (docs/virtio-fs.md), in configuration order */
	unsigned nfs;
	struct mmds *mmds;           /* the metadata service the MMDS interfaces answer from */
	struct ged ged;              /* ACPI event device and VM generation ID (unless --no-vmgenid) */
	struct vmgenid genid;
	struct vcpu_hotplug vcpuhp;  /* "vcpu-hotplug" (vm/vcpu_hotplug.h) */
	struct acpi_devices acpi;    /* what the DSDT must describe */
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
/* Stop the I/O thread, detach from KVM, free everything. Idempotent. */
void vm_devices_destroy(struct vm *vm);
/* Register an already-initialized virtio device (net/vsock engineers: create the device with
 * virtio_dev_init, then call this) on the transport `kind`. dev is freed at destroy. */
int vm_devices_add_virtio(struct vm *vm, struct virtio_dev *vdev, void *dev, enum virtio_transport_kind kind);
/* vm_devices_announce: in vm/vm.h (the layers above call it). */

#endif
