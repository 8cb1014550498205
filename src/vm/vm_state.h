/* The VM's devices as a list of saved states (devices/dev_state.h), in the order a load applies
 * them: what snapshot/save.c and load.c walk, so they need not know any device. */
#ifndef PETREL_VM_VM_STATE_H
#define PETREL_VM_VM_STATE_H

#include "devices/dev_state.h"
#include "vm/vm_devices.h"

struct vm;

struct vm_state_unit {
	const struct dev_state_ops *ops;
	void *dev;              /* what ops' verbs take */
	uint32_t instance;      /* the section's instance (a virtio device's index) */
	bool saved;             /* false: the device is absent from this VM, save writes nothing */
};

#define VM_STATE_MAX_UNITS (13 + 2 * VM_MAX_VIRTIO + DEVICES_MAX_NETS) /* 8 fixed, 5 a firmware's */

/* Fill u (VM_STATE_MAX_UNITS entries) and return how many: the legacy devices (UART, I804,
 * RTC, ACPI, PCIB), the GED and the VM generation ID, PVM's syscall shim, then from the list
 * of attached devices (vm/vm_device.h) each virtio device's own section followed by its
 * transport's (VIRT), which restores the common state and activates the device (instance:
 * its index among the virtio devices), then each other device with a state (E1K, instance =
 * card index). */
unsigned vm_state_units(struct vm *vm, struct vm_state_unit *u);
/* Whether the VM's state can be saved at all (what: "a snapshot", "migration", "replication"):
 * 0, or -ENOTSUP and why (a virtio-fs device, whose state is its back end's). */
int vm_state_saveable(const struct vm *vm, const char *what, char *err, size_t errlen);

#endif
