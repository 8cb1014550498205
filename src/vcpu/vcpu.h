/* One vCPU: its KVM handles and thread, and the KVM_RUN loop (vcpu.c). The VM owns an array of
 * these and fills in one struct vcpu_env they share: the small part of the machine a vCPU
 * needs (buses, memory, CPUID, the PVM helpers, pause and stop). A vCPU sees nothing else of
 * the VM, and vcpu/ includes nothing of vm/. */
#ifndef PETREL_VCPU_VCPU_H
#define PETREL_VCPU_VCPU_H

#include "arch/x86/cpuid.h"
#include "arch/x86/emulate.h"
#include "bus/bus.h"
#include "devices/power.h"
#include "vcpu/exit_stats.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct kvm;
struct guest_mem;
struct pvm_syscall;
struct pvm_idle;

/* What the vCPUs of one machine share, filled in by its owner (vm/vm.c) before the first
 * vcpu_create and unchanged while vCPUs exist. */
struct vcpu_env {
	struct kvm *kvm;
	struct guest_mem *mem;
	struct bus *pio, *mmio;
	struct kvm_cpuid2 *cpuid;               /* the machine's; each vCPU gets its own copy */
	const struct cpuid_opts *cpuid_opts;
	const struct emu_xsave_layout *xsave_layout;
	bool pvm;                               /* PVM host workarounds active: */
	struct pvm_syscall *pvm_syscall;        /* ... the syscall shim (LSTAR writes) */
	struct pvm_idle *pvm_idle;              /* ... and the idle helper */
	/* Pausing and stopping, the owner's: `lock` guards `parked`; `cond` is broadcast on a
	 * change of any of them; pause_requested, reset_requested and stopping are atomics the
	 * owner writes (vm/run_state.c, vm/vm_reset.c), first_run_ns one the first vCPU to run
	 * writes. A vCPU parks while a pause or a reset is requested. */
	pthread_mutex_t *lock;
	pthread_cond_t *cond;
	unsigned *parked;                       /* vCPUs waiting in vcpu_park() */
	const bool *pause_requested, *reset_requested, *stopping;
	uint64_t *first_run_ns;
	struct power_ctl stop;                  /* ask the machine to stop (any thread) */
};

struct vcpu {
	struct vcpu_env *env;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	bool started;
	bool unplugged;               /* ejected by the guest (vCPU hot-plug): parked until it is
				       * added again; atomic */
	bool dump_requested;          /* print where the vCPU is at its next stop (SIGUSR2) */
	uint32_t throttle_us;         /* sleep this long before the next KVM_RUN (migration's
				       * auto-converge sets it and kicks) */
	struct exit_stats stats;
};

/* Create vCPU `id` (or, when an earlier attempt made it and failed to set it up, set up the
 * same KVM vCPU again): CPUID, MSRs and LAPIC as at reset. */
int vcpu_create(struct vcpu *v, struct vcpu_env *env, unsigned id);
/* Close the vCPU's fd and unmap its kvm_run (a slot never created: nothing). */
void vcpu_release(struct vcpu *v, struct vcpu_env *env);
void *vcpu_thread(void *arg);
/* Make the vCPU leave KVM_RUN (from any thread). */
void vcpu_kick(struct vcpu *v);
/* Whether v's thread runs (v->thread valid): set by its starter once the thread exists, read
 * by any thread that kicks it. */
void vcpu_set_started(struct vcpu *v, bool started);
bool vcpu_started(const struct vcpu *v);
/* Called by a vCPU thread between runs: waits while the VM is paused (or resetting). */
void vcpu_park(struct vcpu *v);

#endif
