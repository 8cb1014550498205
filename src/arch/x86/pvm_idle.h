/* PVM ignores the STI interrupt shadow (the PVM spec says so), which breaks the x86 idle idiom
 * "sti; hlt": an interrupt that arrives between the two instructions is handled before the
 * HLT, so the wakeup it carried (say, a reschedule IPI) is acted on only at the next interrupt.
 * A tickless kernel may then sleep for seconds with runnable work, or forever: a Linux boot
 * here stalled with every vCPU halted. petrel bounds that delay: every PVM_IDLE_KICK_MS it
 * sends each vCPU a spurious interrupt on the vector of its own LAPIC timer (read from the
 * LAPIC by the vCPU's own thread, which petrel pokes out of KVM_RUN while the vector is
 * unknown; nothing is sent while the timer LVT is masked). Timer handlers tolerate early fires
 * by design, so the guest just rechecks its timers and its run queue. */
#ifndef PETREL_ARCH_X86_PVM_IDLE_H
#define PETREL_ARCH_X86_PVM_IDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PVM_IDLE_KICK_MS 20
#define PVM_IDLE_MAX_VCPUS 64

struct kvm;

struct pvm_idle {
	struct kvm *kvm;
	/* Make vCPU id leave KVM_RUN once (so its thread can call pvm_idle_refresh). */
	void (*poke)(void *opaque, unsigned id);
	void *poke_opaque;
	unsigned nvcpus;
	uint32_t timer_vector[PVM_IDLE_MAX_VCPUS]; /* 0: masked or not known yet */
	uint64_t last_refresh_ns[PVM_IDLE_MAX_VCPUS];
	pthread_t thread;
	bool running;
	int stop_efd;
	uint64_t kicks;
};

int pvm_idle_start(struct pvm_idle *pi, struct kvm *kvm, unsigned nvcpus,
		   void (*poke)(void *opaque, unsigned id), void *poke_opaque);
void pvm_idle_stop(struct pvm_idle *pi);
/* From vCPU `id`'s own thread, between runs: re-read its LAPIC timer vector now and then. */
void pvm_idle_refresh(struct pvm_idle *pi, unsigned id, int vcpu_fd);
/* The vector of an LVT timer register value, or 0 when masked (pure, unit-tested). */
uint32_t pvm_idle_vector_of_lvtt(uint32_t lvtt);

#endif
