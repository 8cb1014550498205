/* PVM ignores the STI interrupt shadow (the PVM spec says so), which breaks the x86 idle idiom
 * "sti; hlt": an interrupt that arrives between the two instructions is handled before the
 * HLT, so the wakeup it carried (say, a reschedule IPI) is acted on only at the next interrupt.
 * A tickless kernel may then sleep for seconds with runnable work, or forever: a Linux boot
 * here stalled with every vCPU halted. petrel bounds that delay: every PVM_IDLE_KICK_MS it
 * sends each vCPU a spurious interrupt on the vector of its own LAPIC timer (read from the
 * LAPIC by the vCPU's own thread, which petrel pokes out of KVM_RUN while the vector is
 * unknown). A masked timer LVT that keeps its vector is Linux with nothing to time: with no
 * timer pending its tick stops and it masks the LAPIC timer, and a wakeup lost then would be
 * lost for good, so such a vCPU is still kicked, every PVM_IDLE_MASKED_ROUNDS-th round only
 * (an idle guest pays for each interrupt in emulated ring 0). An LVT without a usable vector
 * (the reset value: our test guests) gets nothing. Timer handlers tolerate early fires by
 * design, so the guest just rechecks its timers and its run queue. Only a vCPU whose thread
 * sleeps (halted in KVM) is kicked: a running one needs no wakeup, and with ring 0 emulated
 * every interrupt costs milliseconds of guest time. */
#ifndef PETREL_ARCH_X86_PVM_IDLE_H
#define PETREL_ARCH_X86_PVM_IDLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PVM_IDLE_KICK_MS 20
#define PVM_IDLE_MASKED_ROUNDS 10 /* a masked timer: a kick every 200 ms */
#define PVM_IDLE_MASKED (1u << 16) /* in what pvm_idle_vector_of_lvtt keeps: the LVT was masked */
#define PVM_IDLE_MAX_VCPUS 64

struct io_thread;
struct kvm;

struct pvm_idle {
	struct kvm *kvm;
	/* Make vCPU id leave KVM_RUN once (so its thread can call pvm_idle_refresh). */
	void (*poke)(void *opaque, unsigned id);
	void *poke_opaque;
	unsigned nvcpus;
	uint32_t timer_vector[PVM_IDLE_MAX_VCPUS]; /* pvm_idle_vector_of_lvtt's; 0: none (yet) */
	int tid[PVM_IDLE_MAX_VCPUS];               /* the vCPU threads (0: not known yet) */
	bool paused;                               /* VM paused: send nothing */
	pthread_mutex_t round_lock;                /* held by the kicker through each round */
	uint64_t last_refresh_ns[PVM_IDLE_MAX_VCPUS];
	struct io_thread *io;                      /* where the start timer runs */
	int start_tfd;                             /* fires at the first round: the thread is made */
	pthread_t thread;
	bool thread_started;
	bool running;                              /* started (the timer set or the thread made) */
	int stop_efd;
	uint64_t kicks, skipped;
};

/* The kicker's first round is due PVM_IDLE_KICK_MS from now; its thread is made then (by a
 * timer on `io`, which must outlive pvm_idle_stop). */
int pvm_idle_start(struct pvm_idle *pi, struct kvm *kvm, struct io_thread *io, unsigned nvcpus,
		   void (*poke)(void *opaque, unsigned id), void *poke_opaque);
void pvm_idle_stop(struct pvm_idle *pi);
/* From vCPU `id`'s own thread, between runs: re-read its LAPIC timer vector now and then. */
void pvm_idle_refresh(struct pvm_idle *pi, unsigned id, int vcpu_fd);
/* From vCPU `id`'s own thread when it starts: which thread to watch. */
void pvm_idle_set_thread(struct pvm_idle *pi, unsigned id, int tid);
/* While the VM is paused nothing is sent (the guest's interrupt state must not change under a
 * snapshot). */
void pvm_idle_pause(struct pvm_idle *pi, bool paused);
/* Whether a thread is asleep ('S' in /proc/self/task/TID/stat): a vCPU halted in KVM. */
bool pvm_idle_thread_sleeping(int tid);
/* What the kicker keeps of an LVT timer register value: its vector, with PVM_IDLE_MASKED when
 * masked; 0 when the vector is not one an interrupt may use (pure, unit-tested). */
uint32_t pvm_idle_vector_of_lvtt(uint32_t lvtt);
/* The vector kick round `round` sends for what pvm_idle_vector_of_lvtt kept, or 0 (pure). */
uint32_t pvm_idle_kick_vector(uint32_t kept, unsigned round);
/* Whether a halted vCPU with what pvm_idle_vector_of_lvtt kept is poked on refresh rounds to
 * read its LVT again: when nothing is known yet, and when the timer was masked (a masked
 * reading must not stick: once the guest arms its timer, it is kicked every round). (pure) */
bool pvm_idle_wants_refresh(uint32_t kept);

#endif
