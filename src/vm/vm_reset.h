/* A guest reset that is a reset (vm_reset.c): the i8042's 0xFE, the ACPI reset register, a
 * triple fault or KVM's reset event park every vCPU, put the devices, the in-kernel PIC,
 * IOAPIC and PIT and every vCPU back to their creation state, load the boot again
 * (vm_boot_load) and let the vCPUs run. With machine-config's "reboot": "stop"
 * (`--no-reboot`) the guest's reset ends the VM instead, as before. */
#ifndef PETREL_VM_VM_RESET_H
#define PETREL_VM_VM_RESET_H

#include "vm/vm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msr_list;

/* What a reset puts back, captured as each part is created, in the snapshot's encoding
 * (arch/x86/cpu_state_codec.h: sections CPU and KVM), and the thread that does the reset.
 * `requested` is an atomic the vCPUs read (they park while it is set); it, `why`, `thread`
 * and `started` are written under vm->lock, whose cond is broadcast on a change. */
struct vm_reset {
	bool requested;
	bool started;                       /* the reset thread runs (started at the first request) */
	bool starting;                      /* a request is starting it (outside vm->lock) */
	pthread_t thread;
	char why[256];                      /* what the guest did, for the log and the event */
	uint64_t count;                     /* resets done; atomic */
	struct msr_list *msrs;              /* the MSRs each vCPU's creation state holds */
	uint8_t *vcpu[VM_MAX_VCPUS];        /* each vCPU's creation state (section CPU's bytes) */
	size_t vcpu_len[VM_MAX_VCPUS];
	uint8_t *chips;                     /* PIC, IOAPIC and PIT at creation (section KVM's bytes) */
	size_t chips_len;
};

/* Captures: the in-kernel irqchip and PIT right after they are made, a vCPU right after
 * vcpu_create. 0 or -errno (logged). */
int vm_reset_capture_chips(struct vm *vm);
int vm_reset_capture_vcpu(struct vm *vm, unsigned id);
/* A device or vCPU asked for a reset (any thread, device locks may be held): the vCPUs park
 * and the reset thread resets the machine. Ignored while the VM stops. */
void vm_request_reset(struct vm *vm, const char *why);
/* Join the reset thread (once the VM is stopping) and free the captures. */
void vm_reset_join(struct vm *vm);
void vm_reset_free(struct vm *vm);

#endif
