#include "arch/x86/cpuid.h"
#include "config/cpu_template.h"
#include "arch/x86/emulate.h"
#include "kvm/kvm.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CPUID1_ECX_CX16 (1u << 13)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID1_EDX_HTT (1u << 28)
#define KVM_CPUID_SIGNATURE 0x40000000u
#define CPUID_D1_EAX_XSAVE_EXTRAS 0xfu /* XSAVEOPT, XSAVEC, XGETBV1, XSAVES */
#define CPUID_D1_EAX_XSAVES (1u << 3)
#define XSAVE_LEGACY_AND_HEADER 576u   /* the x87/SSE area (512 bytes) and the XSAVE header (64) */
/* KVM paravirtual features that work through hypercalls (CPUID 0x40000001 EAX): PV_UNHALT
 * (paravirtual spinlocks: a waiter halts with interrupts off until a KVM_HC_KICK_CPU),
 * PV_SEND_IPI (KVM_HC_SEND_IPI), PV_SCHED_YIELD (KVM_HC_SCHED_YIELD). */
#define KVM_FEATURES_BY_HYPERCALL ((1u << 7) | (1u << 11) | (1u << 13))

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t index)
{
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != leaf)
			continue;
		if (!(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index == index)
			return e;
	}
	return NULL;
}

int cpuid_prepare(struct kvm *kvm, const struct cpuid_opts *o, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	int err = kvm_get_supported_cpuid(kvm, &c);
	if (err < 0)
		return err;
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
	if (e) {
		e->ecx |= CPUID1_ECX_HYPERVISOR;
		/* PVM's instruction emulator cannot run lock cmpxchg16b in guest ring 0. */
		if (o->pvm)
			e->ecx &= ~CPUID1_ECX_CX16;
		/* KVM emulates the TSC-deadline timer but leaves the bit to the VMM. With it Linux
		 * arms its local APIC timer in TSC ticks instead of calibrating it against the PIT
		 * first; that calibration fails under nested virtualization (timing too uneven:
		 * "APIC timer disabled due to verification failure") and the guest falls back to
		 * PIT ticks. Not on PVM hosts yet: their guests run on the calibrated timer, and
		 * the switch is unmeasured there. */
		if (!o->pvm && kvm_check_extension(kvm, KVM_CAP_TSC_DEADLINE_TIMER) > 0)
			e->ecx |= CPUID1_ECX_TSC_DEADLINE;
	}
	/* On PVM petrel runs the kernel's XSAVE instructions itself (emulate_xsave.c), in the
	 * standard form only: no XSAVEOPT, XSAVEC, XGETBV with ECX=1, XSAVES. */
	e = cpuid_find(c, 0xd, 1);
	if (e && o->pvm) {
		e->eax &= ~CPUID_D1_EAX_XSAVE_EXTRAS;
		e->ebx = e->ecx = e->edx = 0; /* no supervisor (XSS) components without XSAVES */
	}
	e = cpuid_find(c, KVM_CPUID_SIGNATURE, 0);
	if (e && e->eax < KVM_CPUID_SIGNATURE + 1)
		e->eax = KVM_CPUID_SIGNATURE + 1;
	/* On PVM a hypercall (vmcall/vmmcall) from guest ring 0 never completes: the vCPU spins in
	 * the host kernel at the instruction (measured with tests/guests/pvkick.c). A Linux guest
	 * with paravirtual spinlocks then deadlocks: a waiter halts with interrupts off and the
	 * unlocker hangs in KVM_HC_KICK_CPU (seen in a soak boot: vCPU 0 in hlt, vCPU 1 on the
	 * vmcall with eax=5). Without these the guest spins on its locks and sends IPIs through
	 * the local APIC, which works. */
	e = cpuid_find(c, KVM_CPUID_SIGNATURE + 1, 0);
	if (e && o->pvm)
		e->eax &= ~KVM_FEATURES_BY_HYPERCALL;
	if (o->tmpl) {
		cpu_template_apply(o->tmpl, c->entries, c->nent);
		cpuid_xsave_fixup(c);
	}
	*out = c;
	return 0;
}

void cpuid_xsave_fixup(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *d0 = cpuid_find(c, 0xd, 0), *d1 = cpuid_find(c, 0xd, 1);
	if (!d0)
		return;
	if (d1 && !(d1->eax & CPUID_D1_EAX_XSAVES))
		d1->ecx = d1->edx = 0;   /* supervisor components are XSAVES's alone */
	uint64_t user = ((uint64_t)d0->edx << 32) | d0->eax;
	uint64_t offered = user | (d1 ? ((uint64_t)d1->edx << 32) | d1->ecx : 0);
	uint32_t size = XSAVE_LEGACY_AND_HEADER;
	bool dropped = false;
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function != 0xd || !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e->index < 2 || e->index > 63)
			continue;
		uint64_t bit = 1ull << e->index;
		if (!(offered & bit)) {
			dropped |= (e->eax | e->ebx | e->ecx | e->edx) != 0;
			e->eax = e->ebx = e->ecx = e->edx = 0;
		} else if ((user & bit) && !(e->ecx & 1)) {   /* ECX bit 0: a supervisor component */
			size = MAX(size, e->ebx + e->eax);
		}
	}
	if (dropped)
		d0->ecx = size;
}

void cpuid_xsave_layout(struct kvm_cpuid2 *c, struct emu_xsave_layout *l)
{
	memset(l, 0, sizeof(*l));
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0xd, 0);
	if (!e)
		return;
	l->supported = ((uint64_t)e->edx << 32) | e->eax;
	for (uint32_t i = 2; i < EMU_XSAVE_MAX_COMPONENTS; i++) {
		struct kvm_cpuid_entry2 *s = (l->supported & (1ull << i)) ? cpuid_find(c, 0xd, i) : NULL;
		if (s && s->index == i) {
			l->offset[i] = s->ebx;
			l->size[i] = s->eax;
		}
	}
}

static unsigned ceil_log2(unsigned v)
{
	unsigned s = 0;
	while ((1u << s) < v)
		s++;
	return s;
}

static bool vendor_is_amd(struct kvm_cpuid2 *c)
{
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 0, 0);
	return e && e->ebx == 0x68747541; /* "Auth"enticAMD */
}

/* Some hosts (PVM here) list only subleaf 0 of the topology leaves; the guest needs the SMT
 * and core levels and a terminating level, so add the missing subleaves. */
static void add_topology_subleaves(struct kvm_cpuid2 *c, uint32_t leaf)
{
	if (!cpuid_find(c, leaf, 0))
		return;
	for (uint32_t sub = 0; sub <= 2; sub++) {
		struct kvm_cpuid_entry2 *e = cpuid_find(c, leaf, sub);
		if (e && (e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index == sub)
			continue;
		if (e && !(e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)) {
			e->flags |= KVM_CPUID_FLAG_SIGNIFCANT_INDEX; /* it was meant as subleaf 0 */
			e->index = 0;
			if (sub == 0)
				continue;
		}
		c->entries[c->nent++] = (struct kvm_cpuid_entry2){
			.function = leaf, .index = sub, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX };
	}
}

int cpuid_for_vcpu(const struct kvm_cpuid2 *base, unsigned id, const struct cpuid_opts *o,
		   struct kvm_cpuid2 **out)
{
	size_t sz = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	const size_t extra = 6; /* subleaves add_topology_subleaves() may append */
	struct kvm_cpuid2 *c = malloc(sz + extra * sizeof(base->entries[0]));
	if (!c)
		return -ENOMEM;
	memcpy(c, base, sz);
	add_topology_subleaves(c, 0xb);
	add_topology_subleaves(c, 0x1f);

	unsigned threads = (o->smt && o->ncpus > 1) ? 2 : 1;
	unsigned cores = (o->ncpus + threads - 1) / threads;
	unsigned smt_shift = ceil_log2(threads);
	unsigned pkg_shift = smt_shift + ceil_log2(cores);
	unsigned apic_id = id;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		switch (e->function) {
		case 1: {
			unsigned count = 1u << pkg_shift;
			e->ebx = (e->ebx & 0xffff) | (MIN(count, 255u) << 16) | (apic_id << 24);
			if (o->ncpus > 1)
				e->edx |= CPUID1_EDX_HTT;
			else
				e->edx &= ~CPUID1_EDX_HTT;
			break;
		}
		case 4: {
			if ((e->eax & 0x1f) == 0)
				break; /* no more caches */
			unsigned level = (e->eax >> 5) & 7;
			unsigned sharing = level >= 3 ? (1u << pkg_shift) : threads;
			e->eax = (e->eax & 0x3fff) | ((sharing - 1) << 14) | ((cores - 1) << 26);
			break;
		}
		case 0xb:
		case 0x1f:
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = smt_shift;
				e->ebx = threads;
				e->ecx = (1u << 8) | 0;   /* level type SMT */
			} else if (e->index == 1) {
				e->eax = pkg_shift;
				e->ebx = o->ncpus;
				e->ecx = (2u << 8) | 1;   /* level type core */
			} else {
				e->eax = e->ebx = 0;
				e->ecx = e->index;        /* invalid level ends the list */
			}
			break;
		case 0x80000008:
			if (vendor_is_amd(c))
				e->ecx = (e->ecx & ~0xf0ffu) | (pkg_shift << 12) | (o->ncpus - 1);
			break;
		default:
			break;
		}
	}
	*out = c;
	return 0;
}
