/* The VM's attached devices as one list: what each is, its id, its saved state and its
 * counters. vm_devices.c fills it from the definition, a row of vm_device_kinds.c per kind of
 * device; the snapshot's states (vm_state.c), the metrics (api/ctl_metrics.c), pause, resume
 * and destroy walk it, so none of them names a device type. */
#ifndef PETREL_VM_VM_DEVICE_H
#define PETREL_VM_VM_DEVICE_H

#include "devices/dev_state.h"
#include "devices/dev_stats.h"

/* In the order they are attached (which is the guest's: PCI slots, MMIO slots, the state's
 * instance numbers); an E1000 takes its PCI slot among the virtio-net interfaces, as the
 * definition lists them. */
enum dev_kind {
	DEV_BLK,        /* virtio-blk, a drive */
	DEV_RNG,        /* virtio-rng, "entropy" */
	DEV_NET,        /* virtio-net, a network interface */
	DEV_E1000,      /* an E1000 network interface ("model": "e1000") */
	DEV_VSOCK,      /* virtio-vsock */
	DEV_BALLOON,    /* virtio-balloon */
	DEV_VMEM,       /* virtio-mem, "memory-hotplug" */
	DEV_PMEM,       /* virtio-pmem */
	DEV_FS,         /* virtio-fs */
	DEV_DISPLAY,    /* the screen: bochs-display ("display", docs/display.md) */
	DEV_TABLET,     /* virtio-input, the display's absolute pointer ("display": "tablet") */
	DEV_CONSOLE,    /* virtio-console, "console-ports" and the guest agent's (docs/guest-agent.md) */
	DEV_KINDS
};

struct vm;
struct virtio_dev;
struct vm_transport;

struct vm_device {
	enum dev_kind kind;
	const char *id;                     /* its id in the definition (drive_id, iface_id, ...) or NULL */
	void *dev;                          /* the device's own struct (made by the attach, freed at destroy) */
	struct virtio_dev *vdev;            /* its virtio core (inside dev); NULL: a PCI function of its own */
	const struct dev_state_ops *state;  /* its own section, NULL: none (a virtio device's takes vdev) */
	const struct dev_stats_ops *stats;  /* its counters for the metrics, NULL: none */
	struct vm_transport *tr;            /* a virtio device's transport (vm/vm_devices.h), else NULL */
};

/* The i-th attached device, in attach order; NULL past the end. */
const struct vm_device *vm_device_at(struct vm *vm, unsigned i);
/* What a kind counts (NULL: nothing), with or without a VM: the metrics have the same groups
 * before the VM exists (zeros) as after. */
const struct dev_stats_ops *vm_device_kind_stats(enum dev_kind kind);

#endif
