/* PVM hosts deliver SYSCALL from guest ring 3 to LSTAR without leaving ring 3 (measured with
 * tests/guests/syscallprobe: RIP=LSTAR, RCX/R11 set, CS still 0x33). A kernel whose entry
 * code is supervisor-only then takes a page fault at LSTAR and kills the process, so no user
 * space can run. petrel repairs this from outside the guest: it watches the guest's writes of
 * MSR_LSTAR (an MSR filter), and on the first one places a 64-byte shim in int3 padding of the
 * kernel's executable text and points the IDT's #PF gate at it. The shim recognises "user-mode
 * fault at RIP == LSTAR" and enters LSTAR the way SYSCALL would (ring 0, RFLAGS cleared, user
 * RSP, RCX/R11 as the CPU left them); every other fault goes to the original handler. */
#ifndef PETREL_ARCH_X86_PVM_SYSCALL_H
#define PETREL_ARCH_X86_PVM_SYSCALL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MSR_LSTAR 0xc0000082u
#define PVM_SHIM_SIZE 64

struct kvm;
struct guest_mem;

struct pvm_syscall {
	pthread_mutex_t lock;
	bool installed;
	uint64_t lstar;      /* the guest's syscall entry */
	uint64_t shim;       /* guest-virtual address of the shim */
	uint64_t shim_gpa;
	uint64_t orig_pf;    /* the #PF handler the gate pointed at */
};

/* Ask KVM to send guest writes of MSR_LSTAR to petrel. */
int pvm_syscall_init(struct pvm_syscall *ps, struct kvm *kvm);
/* A vCPU wrote `value` to MSR_LSTAR: apply it, install or update the shim. */
int pvm_syscall_lstar_write(struct pvm_syscall *ps, int vcpu_fd, const struct guest_mem *mem,
			    uint64_t value);
/* The machine's reset: nothing installed (the next kernel's LSTAR write installs it anew). */
void pvm_syscall_reset(struct pvm_syscall *ps);
/* Pure helpers, unit-tested: the shim's bytes for the given addresses; the offset of a
 * 16-byte-aligned place for the shim in an int3 run inside buf, or -1. */
void pvm_syscall_shim_code(uint8_t code[PVM_SHIM_SIZE], uint64_t lstar, uint64_t orig_pf);
long pvm_syscall_find_padding(const uint8_t *buf, size_t len, uint64_t base);

#endif
