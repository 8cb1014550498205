/* One VM: KVM handles, guest memory, address buses, vCPUs and devices, and its lifecycle. */
#ifndef PETREL_VM_VM_H
#define PETREL_VM_VM_H

#include "config/cpu_template.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/emulate.h"
#include "arch/x86/pvm_idle.h"
#include "arch/x86/pvm_syscall.h"
#include "boot/boot.h"
#include "bus/bus.h"
#include "config/vm_config.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/debug_port.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/rtc.h"
#include "devices/legacy/serial.h"
#include "devices/power.h"
#include "kvm/kvm.h"
#include "memory/devmem.h"
#include "memory/guest_mem.h"
#include "vcpu/vcpu.h"
#include "vcpu/exit_stats.h"
#include "vm/vm_devices.h"

#include <pthread.h>
#include <stdbool.h>

struct vm;

struct vm {
	const struct vm_config *cfg;
	struct kvm kvm;
	struct guest_mem mem;
	struct devmem devmem;         /* device memory above RAM (pmem, virtio-mem) */
	struct bus pio, mmio;
	struct vcpu vcpus[VM_MAX_VCPUS];
	unsigned nvcpus;
	struct vcpu_env vcpu_env;     /* what the vCPUs see of this VM (vm_vcpu_env) */
	bool pvm;                     /* PVM host workarounds active */
	struct pvm_syscall pvm_syscall;
	struct pvm_idle pvm_idle;
	struct cpu_template tmpl;
	struct cpuid_opts cpuid_opts;
	struct kvm_cpuid2 *cpuid;
	struct emu_xsave_layout xsave_layout; /* from cpuid, for the PVM XSAVE emulation */
	struct boot_info boot;
	char *cmdline;                /* what the kernel gets */

	struct serial serial;
	struct i8042 i8042;
	struct rtc rtc;
	struct acpi_pm pm;
	struct debug_port debug;
	struct vm_devices devs;       /* I/O thread, PCI bus, virtio devices (vm_devices.c) */

	pthread_mutex_t lock;
	pthread_cond_t cond;          /* pause/resume handshakes, under lock */
	/* vm_pause_exclusive's: held by whoever pauses the VM for a moment and may resume it (a
	 * replication checkpoint, a migration's switch until its outcome) and by a user's pause or
	 * resume (PATCH /vm): a user's pause never lands inside such a moment only to be undone by
	 * its resume, nor a user's resume in the middle of it. */
	pthread_mutex_t pause_hold;
	bool pause_requested;
	unsigned parked;              /* vCPUs waiting in vcpu_park() */
	bool devices_paused;          /* vm_devices_pause done by vm_pause */
	bool stopping;
	enum vm_stop_reason stop_reason;
	int stop_code;
	char stop_msg[512];
	int stop_efd;                 /* eventfd, readable once the VM is stopping */
	uint64_t start_ns;
	uint64_t first_run_ns;        /* a vCPU's first KVM_RUN (migration's downtime ends there) */
	bool restored;                /* built from a snapshot (vm_create_restored) */
	/* The last snapshot written or loaded (the parent of a Diff): its state file and id. */
	char *snap_parent;
	uint8_t snap_parent_id[16];
};

#define VM_DEFAULT_CMDLINE "console=ttyS0 panic=1"

/* Build everything up to the first instruction: nothing runs yet. Logs why on failure.
 * *vm must be zero-filled (static or calloc'ed memory, or cleared after a vm_destroy): it is
 * not cleared here, so the pages of the slots this VM never uses are never touched. */
int vm_create(struct vm *vm, const struct vm_config *cfg, int console_out_fd);
/* The same machine for a snapshot to be loaded into: guest memory mapped privately from
 * mem_fd (the memory file), nothing booted; the caller restores every state before vm_start.
 * *vm zero-filled, as for vm_create. */
int vm_create_restored(struct vm *vm, const struct vm_config *cfg, int console_out_fd, int mem_fd);
/* What the vCPUs see of this VM, filled in on the first call (before the first vCPU is made:
 * KVM, memory, buses, CPUID and its options, the PVM flag set). */
struct vcpu_env *vm_vcpu_env(struct vm *vm);
/* Make vCPU `id` in its slot (vcpu_create with this VM's vcpu_env). */
int vm_vcpu_create(struct vm *vm, unsigned id);
/* Start one thread per vCPU. */
int vm_start(struct vm *vm);
/* Ask the VM to stop; the first request wins. Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Stop all vCPUs (they finish their current exit and wait) / let them run again.
 * vm_pause returns once every vCPU is parked. Both are idempotent. */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/* The right to pause and resume the VM for a moment (a replication checkpoint, a migration's
 * switch until its outcome, a user's pause or resume): nobody else pauses or resumes it until
 * vm_pause_release, so a user's pause never lands inside such a moment only to be undone by
 * its resume. Neither pauses anything itself. */
void vm_pause_exclusive(struct vm *vm);
void vm_pause_release(struct vm *vm);
/* Put every output to the outside behind the gate g, or take it away (NULL): the console,
 * each network interface's transmit (virtio-net and E1000), and vsock data to host sockets
 * (held in the device's own buffers). The console's gate is what vm_output_gate returns. (ha/outgate.h) */
struct outgate;
void vm_set_output_gate(struct vm *vm, struct outgate *g);
struct outgate *vm_output_gate(struct vm *vm);
/* Join the vCPU threads after a stop; returns petrel's exit status. */
int vm_join(struct vm *vm);
void vm_destroy(struct vm *vm);
/* All vCPUs' statistics merged. */
void vm_exit_stats(struct vm *vm, struct exit_stats *out);

/* Ask every vCPU to log its registers (debugging a guest that seems stuck). */
void vm_dump_vcpus(struct vm *vm);

#endif
