/* The CPU hot-plug register block: how the guest's ACPI code (the DSDT's \_SB.CPUS container,
 * arch/x86/acpi.c) learns which vCPUs exist and which changed, and how it ejects one. Linux's
 * ACPI processor driver does the rest (CONFIG_ACPI_HOTPLUG_CPU): a Notify (CPUx, 1) makes it
 * evaluate _STA, read _MAT and bring the CPU up with INIT/SIPI; a Notify (CPUx, 3) makes it
 * offline the CPU and call _EJ0.
 *
 * Eight bytes of I/O ports at CPUHP_PORT:
 *   0-3  selector (read/write): which vCPU the status byte is about
 *   4    status (read): bit 0 present, bit 1 inserting (an insert the guest has not taken
 *        yet), bit 2 removing (a removal asked of the guest)
 *        control (write): bit 1 clears inserting, bit 3 ejects the selected vCPU (its _EJ0:
 *        the guest has offlined it); bit 2 (the scan's acknowledgement of a removal) is
 *        ignored: removing stays set until the eject or the VMM withdraws the request
 *   5-7  reserved: read as zero, writes ignored
 * A selector at or above max_cpus reads status 0 and its writes do nothing; vCPU 0 (the boot
 * CPU) is never ejected. The VMM side (vm/vcpu_hotplug.c) sets the bits, raises the GED's
 * GED_EVT_CPU_HOTPLUG and gets the eject through a callback. */
#ifndef PETREL_DEVICES_LEGACY_CPU_HOTPLUG_H
#define PETREL_DEVICES_LEGACY_CPU_HOTPLUG_H

#include "arch/x86/acpi_hw.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPUHP_MAX_CPUS 64          /* the bitmaps below (VM_MAX_VCPUS) */

/* The whole guest-visible state (snapshot section CPUH). */
struct vcpu_hotplug_state {
	uint64_t present;          /* vCPUs the guest may run (bit = vCPU index = APIC ID) */
	uint64_t inserting;        /* added, not yet acknowledged by the guest's scan */
	uint64_t removing;         /* asked to go, not yet ejected */
	uint32_t selector;         /* the guest's last write (any value) */
	uint32_t max_cpus;         /* max_vcpu_count: what the MADT and DSDT list */
	uint16_t port;
	uint8_t pad[6];
};

struct cpu_hotplug {
	struct vcpu_hotplug_state st;
	pthread_mutex_t lock;
	/* The guest ejected vCPU `cpu` (called with the lock dropped, on a vCPU thread). */
	void (*eject)(void *opaque, unsigned cpu);
	void *opaque;
	uint64_t ejects, ignored;  /* counters: ejects done, control writes ignored */
};

/* max_cpus vCPUs possible (1..CPUHP_MAX_CPUS), the first boot_cpus present. */
void cpu_hotplug_init(struct cpu_hotplug *h, unsigned max_cpus, unsigned boot_cpus, uint16_t port,
		      void (*eject)(void *opaque, unsigned cpu), void *opaque);
/* The machine's reset: the vCPUs present stay present (the next boot's MADT lists them, as
 * QEMU's does); additions not yet acknowledged and removal requests are dropped. */
void cpu_hotplug_reset(struct cpu_hotplug *h);
void cpu_hotplug_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void cpu_hotplug_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* The VMM's side (any thread): a vCPU becomes present with its insert pending / is asked to
 * leave / stays after all (a removal the guest has not done is withdrawn). -EINVAL for a vCPU
 * out of range or in the wrong state. */
int cpu_hotplug_insert(struct cpu_hotplug *h, unsigned cpu);
int cpu_hotplug_request_remove(struct cpu_hotplug *h, unsigned cpu);
int cpu_hotplug_cancel_remove(struct cpu_hotplug *h, unsigned cpu);
/* Present vCPUs, and those of them asked to leave. */
unsigned cpu_hotplug_count(struct cpu_hotplug *h, unsigned *removing);

void cpu_hotplug_save(struct cpu_hotplug *h, struct vcpu_hotplug_state *out);
/* A saved state is checked against this device (same port and max_cpus, vCPU 0 present,
 * every bit below max_cpus, inserting and removing only for present vCPUs) before it is
 * applied; -EINVAL and why otherwise. */
int cpu_hotplug_check(const struct cpu_hotplug *h, const struct vcpu_hotplug_state *st, char *err,
		      size_t errlen);
int cpu_hotplug_restore(struct cpu_hotplug *h, const struct vcpu_hotplug_state *st, char *err,
			size_t errlen);

/* The state's encoding (section CPUH, docs/snapshots.md); vm/vcpu_hotplug.c loads it, as it
 * creates the vCPUs it names. get: 0, or -EINVAL and why (truncated or oversized). */
struct enc;
struct dec;
void cpu_hotplug_state_put(struct enc *e, const struct vcpu_hotplug_state *st);
int cpu_hotplug_state_get(struct dec *d, struct vcpu_hotplug_state *st, char *err, size_t errlen);

#endif
