#include "arch/x86/cpuid.h"
#include "arch/x86/cpu_template.h"
#include "kvm/kvm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MIN_U(a, b) ((a) < (b) ? (a) : (b))

#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID1_EDX_HTT (1u << 28)
#define KVM_CPUID_SIGNATURE 0x40000000u

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

/* On PVM hosts, guest ring 0 runs in the host's instruction emulator, which knows the
 * general-purpose instructions and SSE moves but not SIMD arithmetic (seen: movd, pshufb in the
 * kernel's ChaCha code, reached through kernel_fpu_begin). Linux picks its SIMD crypto and
 * checksum code by CPUID, so hiding these extensions keeps the kernel on scalar code; user
 * space (ring 3, native) loses nothing it needs. XSAVE cannot be hidden: noxsave on the
 * command line makes the kernel drop AVX and everything built on it. */
struct cpuid_hide {
	uint32_t leaf, index;
	enum cpuid_reg reg;
	uint32_t bits;
};

static const struct cpuid_hide pvm_hidden[] = {
	{ 1, 0, CPUID_ECX,
	  (1u << 1) /* PCLMULQDQ */ | (1u << 9) /* SSSE3 */ | (1u << 12) /* FMA */ |
	  (1u << 13) /* CX16 */ | (1u << 19) /* SSE4.1 */ | (1u << 20) /* SSE4.2 */ |
	  (1u << 25) /* AES */ | (1u << 28) /* AVX */ | (1u << 29) /* F16C */ },
	{ 7, 0, CPUID_EBX,
	  (1u << 5) /* AVX2 */ | (1u << 16) /* AVX512F */ | (1u << 17) /* AVX512DQ */ |
	  (1u << 21) /* AVX512IFMA */ | (1u << 26) | (1u << 27) | (1u << 28) /* AVX512PF/ER/CD */ |
	  (1u << 29) /* SHA */ | (1u << 30) /* AVX512BW */ | (1u << 31) /* AVX512VL */ },
	{ 7, 0, CPUID_ECX,
	  (1u << 1) /* AVX512VBMI */ | (1u << 6) /* AVX512VBMI2 */ | (1u << 8) /* GFNI */ |
	  (1u << 9) /* VAES */ | (1u << 10) /* VPCLMULQDQ */ | (1u << 11) /* AVX512VNNI */ |
	  (1u << 12) /* AVX512BITALG */ | (1u << 14) /* AVX512VPOPCNTDQ */ },
};

static uint32_t *cpuid_reg_ptr(struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
	switch (r) {
	case CPUID_EAX: return &e->eax;
	case CPUID_EBX: return &e->ebx;
	case CPUID_ECX: return &e->ecx;
	default: return &e->edx;
	}
}

int cpuid_prepare(struct kvm *kvm, const struct cpuid_opts *o, struct kvm_cpuid2 **out)
{
	struct kvm_cpuid2 *c;
	int err = kvm_get_supported_cpuid(kvm, &c);
	if (err < 0)
		return err;
	struct kvm_cpuid_entry2 *e = cpuid_find(c, 1, 0);
	if (e)
		e->ecx |= CPUID1_ECX_HYPERVISOR;
	for (size_t i = 0; o->pvm && i < sizeof(pvm_hidden) / sizeof(pvm_hidden[0]); i++) {
		const struct cpuid_hide *h = &pvm_hidden[i];
		e = cpuid_find(c, h->leaf, h->index);
		if (e)
			*cpuid_reg_ptr(e, h->reg) &= ~h->bits;
	}
	e = cpuid_find(c, KVM_CPUID_SIGNATURE, 0);
	if (e && e->eax < KVM_CPUID_SIGNATURE + 1)
		e->eax = KVM_CPUID_SIGNATURE + 1;
	if (o->tmpl)
		cpu_template_apply(o->tmpl, c->entries, c->nent);
	*out = c;
	return 0;
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

int cpuid_for_vcpu(const struct kvm_cpuid2 *base, unsigned id, const struct cpuid_opts *o,
		   struct kvm_cpuid2 **out)
{
	size_t sz = sizeof(*base) + base->nent * sizeof(base->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	if (!c)
		return -ENOMEM;
	memcpy(c, base, sz);

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
			e->ebx = (e->ebx & 0xffff) | (MIN_U(count, 255) << 16) | (apic_id << 24);
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
