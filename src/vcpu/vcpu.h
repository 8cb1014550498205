/* One vCPU: its KVM handles and thread, and the KVM_RUN loop (vcpu.c). The VM owns an array of
 * these; a vCPU knows its VM only through the pointer. */
#ifndef PETREL_VCPU_VCPU_H
#define PETREL_VCPU_VCPU_H

#include "vm/exit_stats.h"

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>

struct vm;

struct vcpu {
	struct vm *vm;
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
int vcpu_create(struct vm *vm, unsigned id);
/* Close the vCPU's fd and unmap its kvm_run (a slot never created: nothing). */
void vcpu_release(struct vm *vm, struct vcpu *v);
void *vcpu_thread(void *arg);
/* Make the vCPU leave KVM_RUN (from any thread). */
void vcpu_kick(struct vcpu *v);
/* Whether v's thread runs (v->thread valid): set by its starter once the thread exists, read
 * by any thread that kicks it. */
void vcpu_set_started(struct vcpu *v, bool started);
bool vcpu_started(const struct vcpu *v);
/* Called by a vCPU thread between runs: waits while the VM is paused. */
void vcpu_park(struct vcpu *v);

#endif
