/* The CPUID the guest sees: KVM's supported set, minus what the CPU template hides,
 * with per-vCPU topology (APIC IDs, cores/threads) filled in. */
#ifndef PETREL_ARCH_X86_CPUID_H
#define PETREL_ARCH_X86_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct kvm;
struct cpu_template;

struct cpuid_opts {
	unsigned ncpus;
	bool smt;                        /* two threads per core */
	bool pvm;                        /* apply the PVM-host defaults */
	const struct cpu_template *tmpl; /* may be NULL */
};

/* CPUID for all vCPUs (before topology). Caller frees. */
int cpuid_prepare(struct kvm *kvm, const struct cpuid_opts *o, struct kvm_cpuid2 **out);
/* Leaf 0xD made consistent with what a CPU template left of it: the subleaves of the state
 * components no longer offered read 0 (as for any unsupported one), no supervisor component
 * without XSAVES, and subleaf 0's ECX (the XSAVE area for every component XCR0 may enable) is
 * that of the components left, not the host's. Subleaf 0's and 1's EBX (the size for what XCR0
 * and IA32_XSS enable now) are KVM's: it computes them as the guest sets XCR0. */
void cpuid_xsave_fixup(struct kvm_cpuid2 *c);
/* A copy of base with vCPU `id`'s topology. Caller frees. */
int cpuid_for_vcpu(const struct kvm_cpuid2 *base, unsigned id, const struct cpuid_opts *o,
		   struct kvm_cpuid2 **out);
/* The entry for leaf/subleaf, or NULL. */
/* Where each XSAVE component sits (leaf 0xD), for the emulator's xsave/xrstor. */
struct emu_xsave_layout;
void cpuid_xsave_layout(struct kvm_cpuid2 *c, struct emu_xsave_layout *l);
struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t index);

#endif
