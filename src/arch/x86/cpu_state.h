/* The complete architectural state of one x86 vCPU as KVM keeps it, and of the VM-wide
 * in-kernel devices (PIC, IOAPIC, PIT, kvmclock): what a snapshot, a migration or a replica
 * carries so another process can rebuild the machine exactly. Plain structs of KVM's own
 * types; the get/set functions talk to KVM (through src/kvm's wrappers) and nothing else. */
#ifndef PETREL_ARCH_X86_CPU_STATE_H
#define PETREL_ARCH_X86_CPU_STATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_STATE_MAX_MSRS 256

struct cpu_state {
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xsave xsave;        /* FPU/SSE/AVX/AVX-512 (standard form) */
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp_state;
	struct kvm_vcpu_events events;
	struct kvm_debugregs debugregs;
	uint32_t nmsrs;
	uint32_t pad;
	struct kvm_msr_entry msrs[CPU_STATE_MAX_MSRS];
};

struct vm_kvm_state {
	struct kvm_irqchip pic_master, pic_slave, ioapic;
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
};

/* The MSRs worth saving: KVM_GET_MSR_INDEX_LIST (what KVM can save and restore), less those
 * this vCPU refuses to read. Fill once per VM. */
struct msr_list {
	uint32_t n;
	uint32_t index[CPU_STATE_MAX_MSRS];
};
struct kvm;
int cpu_msr_list(struct kvm *kvm, int vcpu_fd, struct msr_list *out);

/* Read the whole vCPU (paused: not in KVM_RUN). */
int cpu_state_get(int vcpu_fd, const struct msr_list *msrs, struct cpu_state *s);
/* Check a state from a file before anything is applied: counts, flags and the fields KVM
 * would trust. 0 or -EINVAL with a reason in err. */
int cpu_state_check(const struct cpu_state *s, char *err, size_t errlen);
/* Load it into a freshly created vCPU (after KVM_SET_CPUID2). */
int cpu_state_set(int vcpu_fd, const struct cpu_state *s, char *err, size_t errlen);

/* A vCPU's TSC to 0 in s: KVM takes a host's write of 0 as the vCPUs' synchronisation, so the
 * vCPUs of a reset machine count from 0 together, as at creation (QEMU resets it so too). */
void cpu_state_zero_tsc(struct cpu_state *s);

/* Local APIC registers: offsets in its MMIO page, as in struct kvm_lapic_state's regs. */
enum {
	LAPIC_TPR = 0x80, LAPIC_SVR = 0xf0, LAPIC_ISR = 0x100, LAPIC_IRR = 0x200, LAPIC_LVTT = 0x320,
	LAPIC_LVT0 = 0x350, LAPIC_TMICT = 0x380, LAPIC_TMCCT = 0x390,
};

/* A local APIC register, and the highest vector set in one of its 256-bit maps (LAPIC_ISR,
 * LAPIC_IRR), or -1. */
uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off);
int lapic_highest_vector(const struct kvm_lapic_state *l, unsigned map);

int vm_kvm_state_get(struct kvm *kvm, struct vm_kvm_state *s);
int vm_kvm_state_check(const struct vm_kvm_state *s, char *err, size_t errlen);
/* Restore the PIC, the IOAPIC and the PIT only (a reset: the clock goes on). */
int vm_kvm_chips_set(struct kvm *kvm, const struct vm_kvm_state *s, char *err, size_t errlen);
/* Restore the in-kernel devices; the clock continues from where it was saved, or, with
 * realtime, from the host's real time now (KVM_CLOCK_REALTIME, when the host supports it). */
int vm_kvm_state_set(struct kvm *kvm, const struct vm_kvm_state *s, bool realtime, char *err, size_t errlen);

#endif
