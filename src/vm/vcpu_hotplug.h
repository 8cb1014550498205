/* vCPU hot-plug on the VMM's side ("vcpu-hotplug", docs/user-guide.md): the register block
 * (devices/legacy/cpu_hotplug.h) on the port bus, the DSDT's processor container, and the
 * vCPUs behind it.
 *
 * Adding: the lowest absent vCPU index comes in. A vCPU never created before is created
 * exactly as at boot (vcpu_create: KVM_CREATE_VCPU, its CPUID and LAPIC defaults) and its
 * thread started; KVM leaves it waiting for INIT/SIPI, like an AP at boot, until the guest
 * onlines it. One the guest ejected before is reused (KVM cannot destroy a vCPU): its LAPIC
 * defaults again and back to waiting for INIT/SIPI. Then its present and inserting bits are
 * set and the GED raises GED_EVT_CPU_HOTPLUG; the guest's scan notifies the CPU device.
 *
 * Removing: the highest present vCPUs (never vCPU 0) get their removing bit and the GED
 * event; Linux offlines the CPU and calls _EJ0, whose register write clears its present bit
 * and parks its thread for good (vcpu.unplugged) until it is added again.
 *
 * Snapshots, migration and replication carry the device's state (section CPUH) and only the
 * present vCPUs' registers; max_vcpu_count is in the definition (the guest's MADT and DSDT
 * list that many CPUs), and a load creates every vCPU up to the highest present one. */
#ifndef PETREL_VM_VCPU_HOTPLUG_H
#define PETREL_VM_VCPU_HOTPLUG_H

#include "devices/legacy/cpu_hotplug.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;

struct vcpu_hotplug {
	bool on;                   /* configured: the device and the container exist */
	struct cpu_hotplug dev;
	pthread_mutex_t lock;      /* one change at a time (API requests, guest ejects) */
	pthread_cond_t ejected_cond; /* on_eject recorded a guest's eject (under lock) */
	uint64_t added, remove_requests, ejected;
	uint64_t last_add_ns;      /* the last hot-add, request to vCPU ready to run */
};

/* The vCPUs the guest may ever have: max_vcpu_count with hot-plug, else vcpu_count (what
 * CPUID's topology describes, so a hot-added vCPU is a core of the same package). */
unsigned vcpu_hotplug_possible(const struct vm_config *cfg);
/* With "vcpu-hotplug": the register block on the port bus and the container in the DSDT
 * (vm->devs.acpi). Needs the GED. 0 or -errno (logged). */
int vcpu_hotplug_create(struct vm *vm);
/* PATCH /hotplug/vcpu: make the guest's vCPU count n (adds at once, removals once the guest
 * ejects). 0, or -EINVAL/-errno with why. */
int vcpu_hotplug_set(struct vm *vm, unsigned n, char *err, size_t errlen);
/* Present vCPUs, and the count they head for (present less those asked to leave). */
void vcpu_hotplug_counts(struct vm *vm, unsigned *present, unsigned *target);
/* Whether the VM has "vcpu-hotplug" (the register block and the container exist). */
bool vcpu_hotplug_on(struct vm *vm);
/* max_vcpu_count and the counters, for GET /hotplug/vcpu and the metrics (zeros without). */
struct vcpu_hotplug_stats {
	unsigned max_cpus;
	uint64_t added, remove_requests, ejected, last_add_ns;
};
void vcpu_hotplug_stats(struct vm *vm, struct vcpu_hotplug_stats *out);
/* The device's state for a snapshot's CPUH section; false (nothing to save) without hot-plug. */
bool vcpu_hotplug_save(struct vm *vm, struct vcpu_hotplug_state *st);
/* Hold off changes (a snapshot's state is being built: the vCPUs saved and the CPUH section
 * must agree). No-ops without hot-plug. */
void vcpu_hotplug_hold(struct vm *vm);
void vcpu_hotplug_release(struct vm *vm);
/* Whether vCPU i's registers belong in a snapshot (present; always without hot-plug). */
bool vcpu_hotplug_is_present(struct vm *vm, unsigned i);
/* A snapshot's CPUH state into a VM built from its definition: checked, the missing vCPUs
 * created, the absent ones marked unplugged; nvcpus is the snapshot's count of saved vCPUs.
 * Before their registers are loaded. 0 or -EINVAL with why. */
int vcpu_hotplug_load(struct vm *vm, const struct vcpu_hotplug_state *st, unsigned nvcpus, char *err,
		      size_t errlen);

#endif
