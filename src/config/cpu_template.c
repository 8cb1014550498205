/* CPU templates: named CPUID masks and Firecracker-format custom templates.
 *
 * A template is a list of modifiers; each one forces the bits set in its mask to the matching
 * bits of its value and leaves the host's other bits alone. Modifiers are applied in order, so
 * a later one wins where two touch the same bit.
 *
 * Named templates
 * ---------------
 * petrel's named templates carry Firecracker's names so that configs carry over, but their
 * contents are our own: each one only ever hides features (mask bit set, value bit 0), never
 * invents them. Hiding gives a guest a stable feature set across a fleet of different hosts,
 * which is what snapshot restore and live migration need: a guest must not see a feature on
 * the source host that the destination lacks. Each template is a CPU generation baseline:
 *
 *   C3    Intel Ivy Bridge-EP (Xeon E5 v2, what AWS C3 ran on): hides everything from
 *         Haswell on (AVX2, FMA, BMI1/2, MOVBE, LZCNT, INVPCID, ...).
 *   T2    Intel Haswell-EP (Xeon E5 v3, the oldest CPU of AWS T2): keeps AVX2/FMA/BMI,
 *         hides Broadwell and later (RDSEED, ADX, SMAP, PREFETCHW, ...), AVX-512, PKU.
 *   T2S   Same CPUID mask as T2. (Firecracker's T2S also rewrites MSRs so that snapshots
 *         move between Skylake and Cascade Lake hosts; petrel's named templates are CPUID only.)
 *   T2CL  Intel Cascade Lake: keeps AVX-512 F/DQ/CD/BW/VL/VNNI, PKU, CLWB, hides Ice Lake and
 *         later (VBMI, GFNI, VAES, LA57, RDPID, SHA, FSRM, AMX, ...).
 *   T2A   AMD Zen 2/3 hosts made to look like a subset of T2CL: everything T2CL hides, plus
 *         AVX-512 (Zen 4 has it, Zen 3 does not), plus AMD-only features an Intel host
 *         lacks (SSE4A, XOP, FMA4, TBM, CLZERO, RDPRU, MONITORX, 3DNow!, ...).
 *
 * Every named template except "None" also hides features that do not belong in a portable
 * guest at all: nested virtualization (VMX, SVM), SMX, SGX, MPX, Intel PT, RDT
 * monitoring/allocation, WAITPKG, TME, PCONFIG, UINTR, architectural LBRs, PKS, key locker,
 * and AMD IBS/LWP/SKINIT/WDT.
 *
 * What none of them hides: the speculative-execution controls and their enumeration
 * (IBRS/IBPB/STIBP/SSBD/MD_CLEAR/ARCH_CAPABILITIES/L1D_FLUSH and the AMD 0x80000008 EBX
 * equivalents). Hiding those would silently turn off the guest's mitigations. Nor UMIP:
 * KVM emulates it on Intel hosts without hardware support, so it is the same everywhere.
 *
 * Bit positions are from the Intel SDM vol. 2A (CPUID) and the AMD APM vol. 3 (appendix E).
 */
#include "config/cpu_template.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/kvm.h>

#include "util/util.h"

#define B(n) (UINT32_C(1) << (n))

/* CPUID.01H:ECX */
#define L1C_VMX          B(5)
#define L1C_SMX          B(6)
#define L1C_FMA          B(12)
#define L1C_MOVBE        B(22)

/* CPUID.(EAX=07H,ECX=0):EBX */
#define L7B_SGX          B(2)
#define L7B_BMI1         B(3)
#define L7B_HLE          B(4)
#define L7B_AVX2         B(5)
#define L7B_BMI2         B(8)
#define L7B_INVPCID      B(10)
#define L7B_RTM          B(11)
#define L7B_RDT_M        B(12)
#define L7B_MPX          B(14)
#define L7B_RDT_A        B(15)
#define L7B_AVX512F      B(16)
#define L7B_AVX512DQ     B(17)
#define L7B_RDSEED       B(18)
#define L7B_ADX          B(19)
#define L7B_SMAP         B(20)
#define L7B_AVX512IFMA   B(21)
#define L7B_CLFLUSHOPT   B(23)
#define L7B_CLWB         B(24)
#define L7B_PT           B(25)
#define L7B_AVX512PF     B(26)
#define L7B_AVX512ER     B(27)
#define L7B_AVX512CD     B(28)
#define L7B_SHA          B(29)
#define L7B_AVX512BW     B(30)
#define L7B_AVX512VL     B(31)

/* CPUID.(EAX=07H,ECX=0):ECX */
#define L7C_PREFETCHWT1  B(0)
#define L7C_AVX512VBMI   B(1)
#define L7C_PKU          B(3)
#define L7C_OSPKE        B(4)
#define L7C_WAITPKG      B(5)
#define L7C_AVX512VBMI2  B(6)
#define L7C_CET_SS       B(7)
#define L7C_GFNI         B(8)
#define L7C_VAES         B(9)
#define L7C_VPCLMULQDQ   B(10)
#define L7C_AVX512VNNI   B(11)
#define L7C_AVX512BITALG B(12)
#define L7C_TME          B(13)
#define L7C_AVX512VPOPCNTDQ B(14)
#define L7C_LA57         B(16)
#define L7C_RDPID        B(22)
#define L7C_KL           B(23)
#define L7C_CLDEMOTE     B(25)
#define L7C_MOVDIRI      B(27)
#define L7C_MOVDIR64B    B(28)
#define L7C_ENQCMD       B(29)
#define L7C_SGX_LC       B(30)
#define L7C_PKS          B(31)

/* CPUID.(EAX=07H,ECX=0):EDX */
#define L7D_AVX512_4VNNIW B(2)
#define L7D_AVX512_4FMAPS B(3)
#define L7D_FSRM         B(4)
#define L7D_UINTR        B(5)
#define L7D_AVX512_VP2INTERSECT B(8)
#define L7D_SERIALIZE    B(14)
#define L7D_TSXLDTRK     B(16)
#define L7D_PCONFIG      B(18)
#define L7D_ARCH_LBR     B(19)
#define L7D_CET_IBT      B(20)
#define L7D_AMX_BF16     B(22)
#define L7D_AVX512_FP16  B(23)
#define L7D_AMX_TILE     B(24)
#define L7D_AMX_INT8     B(25)

/* CPUID.(EAX=07H,ECX=1):EAX */
#define L71A_AVX_VNNI    B(4)
#define L71A_AVX512_BF16 B(5)
#define L71A_FZLRM       B(10)
#define L71A_FSRS        B(11)
#define L71A_FSRCS       B(12)
#define L71A_HRESET      B(22)
#define L71A_AVX_IFMA    B(23)
#define L71A_LAM         B(26)

/* CPUID.(EAX=0DH,ECX=0):EAX, the XCR0 state components the guest may enable */
#define LD0A_BNDREGS     B(3)
#define LD0A_BNDCSR      B(4)
#define LD0A_OPMASK      B(5)
#define LD0A_ZMM_HI256   B(6)
#define LD0A_HI16_ZMM    B(7)
#define LD0A_PKRU        B(9)
#define LD0A_XTILECFG    B(17)
#define LD0A_XTILEDATA   B(18)

/* CPUID.(EAX=0DH,ECX=1):EAX */
#define LD1A_XSAVEC      B(1)
#define LD1A_XGETBV1     B(2)
#define LD1A_XSAVES      B(3)
#define LD1A_XFD         B(4)

/* CPUID.80000001H:ECX */
#define LX1C_SVM         B(2)
#define LX1C_LZCNT       B(5)
#define LX1C_SSE4A       B(6)
#define LX1C_MISALIGNSSE B(7)
#define LX1C_PREFETCHW   B(8)
#define LX1C_IBS         B(10)
#define LX1C_XOP         B(11)
#define LX1C_SKINIT      B(12)
#define LX1C_WDT         B(13)
#define LX1C_LWP         B(15)
#define LX1C_FMA4        B(16)
#define LX1C_NODEID      B(19)
#define LX1C_TBM         B(21)
#define LX1C_PERFCTR_CORE B(23)
#define LX1C_PERFCTR_NB  B(24)
#define LX1C_DBX         B(26)
#define LX1C_PERFTSC     B(27)
#define LX1C_PERFCTR_LLC B(28)
#define LX1C_MONITORX    B(29)

/* CPUID.80000001H:EDX */
#define LX1D_MMXEXT      B(22)
#define LX1D_FFXSR       B(25)
#define LX1D_3DNOWEXT    B(30)
#define LX1D_3DNOW       B(31)

/* CPUID.80000008H:EBX */
#define LX8B_CLZERO      B(0)
#define LX8B_IRPERF      B(1)
#define LX8B_RDPRU       B(4)
#define LX8B_MCOMMIT     B(8)
#define LX8B_WBNOINVD    B(9)

struct hide_row {
	uint32_t leaf;
	uint32_t subleaf;
	bool any_subleaf;
	enum cpuid_reg reg;
	uint32_t bits;
};

#define HIDE(leaf, reg, bits)           { (leaf), 0, true, (reg), (bits) }
#define HIDE_SUB(leaf, sub, reg, bits)  { (leaf), (sub), false, (reg), (bits) }

/* Never portable: nested virtualization, enclaves, tracing, host resource control. */
static const struct hide_row hide_host_only[] = {
	HIDE(0x1, CPUID_ECX, L1C_VMX | L1C_SMX),
	HIDE_SUB(0x7, 0, CPUID_EBX, L7B_SGX | L7B_MPX | L7B_PT | L7B_RDT_M | L7B_RDT_A),
	HIDE_SUB(0x7, 0, CPUID_ECX, L7C_WAITPKG | L7C_TME | L7C_KL | L7C_ENQCMD | L7C_SGX_LC |
		 L7C_PKS),
	HIDE_SUB(0x7, 0, CPUID_EDX, L7D_UINTR | L7D_PCONFIG | L7D_ARCH_LBR),
	HIDE_SUB(0xd, 0, CPUID_EAX, LD0A_BNDREGS | LD0A_BNDCSR),
	HIDE(0x80000001, CPUID_ECX, LX1C_SVM | LX1C_IBS | LX1C_SKINIT | LX1C_WDT | LX1C_LWP),
};

/* TSX: disabled by microcode on many Haswell/Broadwell parts and by TAA mitigations since. */
static const struct hide_row hide_tsx[] = {
	HIDE_SUB(0x7, 0, CPUID_EBX, L7B_HLE | L7B_RTM),
	HIDE_SUB(0x7, 0, CPUID_EDX, L7D_TSXLDTRK),
};

/* Introduced with Haswell. */
static const struct hide_row hide_haswell[] = {
	HIDE(0x1, CPUID_ECX, L1C_FMA | L1C_MOVBE),
	HIDE_SUB(0x7, 0, CPUID_EBX, L7B_BMI1 | L7B_AVX2 | L7B_BMI2 | L7B_INVPCID),
	HIDE(0x80000001, CPUID_ECX, LX1C_LZCNT),
};

/* Introduced with Broadwell. */
static const struct hide_row hide_broadwell[] = {
	HIDE_SUB(0x7, 0, CPUID_EBX, L7B_RDSEED | L7B_ADX | L7B_SMAP),
	HIDE(0x80000001, CPUID_ECX, LX1C_PREFETCHW),
};

/* Introduced with Skylake-SP / Cascade Lake, other than AVX-512. */
static const struct hide_row hide_skylake[] = {
	HIDE_SUB(0x7, 0, CPUID_EBX, L7B_CLFLUSHOPT | L7B_CLWB),
	HIDE_SUB(0x7, 0, CPUID_ECX, L7C_PKU | L7C_OSPKE),
	HIDE_SUB(0xd, 0, CPUID_EAX, LD0A_PKRU),
	HIDE_SUB(0xd, 1, CPUID_EAX, LD1A_XSAVEC | LD1A_XGETBV1 | LD1A_XSAVES),
};

/* The AVX-512 subsets Cascade Lake has, and their register state. */
static const struct hide_row hide_avx512_cascadelake[] = {
	HIDE_SUB(0x7, 0, CPUID_EBX, L7B_AVX512F | L7B_AVX512DQ | L7B_AVX512CD | L7B_AVX512BW |
		 L7B_AVX512VL),
	HIDE_SUB(0x7, 0, CPUID_ECX, L7C_AVX512VNNI),
	HIDE_SUB(0xd, 0, CPUID_EAX, LD0A_OPMASK | LD0A_ZMM_HI256 | LD0A_HI16_ZMM),
};

/* Everything newer than Cascade Lake, including the rest of AVX-512 and AMX. */
static const struct hide_row hide_icelake_and_later[] = {
	HIDE_SUB(0x7, 0, CPUID_EBX, L7B_AVX512IFMA | L7B_AVX512PF | L7B_AVX512ER | L7B_SHA),
	HIDE_SUB(0x7, 0, CPUID_ECX, L7C_PREFETCHWT1 | L7C_AVX512VBMI | L7C_AVX512VBMI2 |
		 L7C_CET_SS | L7C_GFNI | L7C_VAES | L7C_VPCLMULQDQ | L7C_AVX512BITALG |
		 L7C_AVX512VPOPCNTDQ | L7C_LA57 | L7C_RDPID | L7C_CLDEMOTE | L7C_MOVDIRI |
		 L7C_MOVDIR64B),
	HIDE_SUB(0x7, 0, CPUID_EDX, L7D_AVX512_4VNNIW | L7D_AVX512_4FMAPS | L7D_FSRM |
		 L7D_AVX512_VP2INTERSECT | L7D_SERIALIZE | L7D_CET_IBT | L7D_AMX_BF16 |
		 L7D_AVX512_FP16 | L7D_AMX_TILE | L7D_AMX_INT8),
	HIDE_SUB(0x7, 1, CPUID_EAX, L71A_AVX_VNNI | L71A_AVX512_BF16 | L71A_FZLRM | L71A_FSRS |
		 L71A_FSRCS | L71A_HRESET | L71A_AVX_IFMA | L71A_LAM),
	HIDE_SUB(0xd, 0, CPUID_EAX, LD0A_XTILECFG | LD0A_XTILEDATA),
	HIDE_SUB(0xd, 1, CPUID_EAX, LD1A_XFD),
	HIDE(0x80000008, CPUID_EBX, LX8B_WBNOINVD),
};

/* AMD-only features that no Intel host has. */
static const struct hide_row hide_amd_only[] = {
	HIDE(0x80000001, CPUID_ECX, LX1C_SSE4A | LX1C_MISALIGNSSE | LX1C_XOP | LX1C_FMA4 |
	     LX1C_NODEID | LX1C_TBM | LX1C_PERFCTR_CORE | LX1C_PERFCTR_NB | LX1C_DBX |
	     LX1C_PERFTSC | LX1C_PERFCTR_LLC | LX1C_MONITORX),
	HIDE(0x80000001, CPUID_EDX, LX1D_MMXEXT | LX1D_FFXSR | LX1D_3DNOWEXT | LX1D_3DNOW),
	HIDE(0x80000008, CPUID_EBX, LX8B_CLZERO | LX8B_IRPERF | LX8B_RDPRU | LX8B_MCOMMIT |
	     LX8B_WBNOINVD),
};

struct hide_group {
	const struct hide_row *rows;
	size_t n;
};

#define GROUP(a) { (a), ARRAY_SIZE(a) }
#define MAX_GROUPS 8

struct named_template {
	const char *name;
	struct hide_group groups[MAX_GROUPS];
};

static const struct named_template named_templates[] = {
	{ "None", { { NULL, 0 } } },
	{ "C3", { GROUP(hide_host_only), GROUP(hide_tsx), GROUP(hide_haswell),
		  GROUP(hide_broadwell), GROUP(hide_skylake), GROUP(hide_avx512_cascadelake),
		  GROUP(hide_icelake_and_later) } },
	{ "T2", { GROUP(hide_host_only), GROUP(hide_tsx), GROUP(hide_broadwell),
		  GROUP(hide_skylake), GROUP(hide_avx512_cascadelake),
		  GROUP(hide_icelake_and_later) } },
	{ "T2S", { GROUP(hide_host_only), GROUP(hide_tsx), GROUP(hide_broadwell),
		   GROUP(hide_skylake), GROUP(hide_avx512_cascadelake),
		   GROUP(hide_icelake_and_later) } },
	{ "T2CL", { GROUP(hide_host_only), GROUP(hide_tsx), GROUP(hide_icelake_and_later) } },
	{ "T2A", { GROUP(hide_host_only), GROUP(hide_tsx), GROUP(hide_avx512_cascadelake),
		   GROUP(hide_icelake_and_later), GROUP(hide_amd_only) } },
};


static void set_name(struct cpu_template *t, const char *name)
{
	snprintf(t->name, sizeof(t->name), "%s", name);
}

/* Merge a hide row into the template: one modifier per (leaf, subleaf, register). */
static void add_hide(struct cpu_template *t, const struct hide_row *r)
{
	for (size_t i = 0; i < t->nmods; i++) {
		struct cpuid_modifier *m = &t->mods[i];
		if (m->leaf == r->leaf && m->any_subleaf == r->any_subleaf &&
		    m->subleaf == r->subleaf && m->reg == r->reg) {
			m->mask |= r->bits;
			return;
		}
	}
	t->mods[t->nmods++] = (struct cpuid_modifier){
		.leaf = r->leaf, .subleaf = r->subleaf, .any_subleaf = r->any_subleaf,
		.reg = r->reg, .mask = r->bits, .value = 0,
	};
}

int cpu_template_named(const char *name, struct cpu_template *out)
{
	memset(out, 0, sizeof(*out));
	if (!name)
		return -ENOENT;
	for (size_t i = 0; i < ARRAY_SIZE(named_templates); i++) {
		const struct named_template *nt = &named_templates[i];
		if (strcmp(nt->name, name) != 0)
			continue;
		size_t rows = 0;
		for (size_t g = 0; g < MAX_GROUPS; g++)
			rows += nt->groups[g].n;
		set_name(out, nt->name);
		if (!rows)
			return 0;
		out->mods = calloc(rows, sizeof(*out->mods));
		if (!out->mods)
			return -ENOMEM;
		for (size_t g = 0; g < MAX_GROUPS; g++)
			for (size_t r = 0; r < nt->groups[g].n; r++)
				add_hide(out, &nt->groups[g].rows[r]);
		return 0;
	}
	return -ENOENT;
}

void cpu_template_free(struct cpu_template *t)
{
	if (!t)
		return;
	free(t->mods);
	free(t->msrs);
	free(t->kvm_caps);
	memset(t, 0, sizeof(*t));
}

/* A new array holding a[0..na) then b[0..nb), or NULL on overflow or ENOMEM. */
static void *concat(const void *a, size_t na, const void *b, size_t nb, size_t size)
{
	if (na > SIZE_MAX / size - nb)
		return NULL;
	size_t total = na + nb;
	char *p = malloc(total ? total * size : 1);
	if (!p)
		return NULL;
	if (na)
		memcpy(p, a, na * size);
	if (nb)
		memcpy(p + na * size, b, nb * size);
	return p;
}

int cpu_template_append(struct cpu_template *t, const struct cpu_template *extra)
{
	if (!extra || (!extra->nmods && !extra->nmsrs && !extra->nkvm_caps))
		return 0;
	/* Build all three arrays first so that a failure leaves t unchanged. */
	_cleanup_free_ struct cpuid_modifier *mods = concat(t->mods, t->nmods, extra->mods, extra->nmods,
							    sizeof(*mods));
	_cleanup_free_ struct msr_modifier *msrs = concat(t->msrs, t->nmsrs, extra->msrs, extra->nmsrs,
							  sizeof(*msrs));
	_cleanup_free_ struct kvm_cap_modifier *caps = concat(t->kvm_caps, t->nkvm_caps, extra->kvm_caps,
							      extra->nkvm_caps, sizeof(*caps));
	if (!mods || !msrs || !caps)
		return -ENOMEM;
	free(t->mods);
	free(t->msrs);
	free(t->kvm_caps);
	t->mods = TAKE_PTR(mods);
	t->nmods += extra->nmods;
	t->msrs = TAKE_PTR(msrs);
	t->nmsrs += extra->nmsrs;
	t->kvm_caps = TAKE_PTR(caps);
	t->nkvm_caps += extra->nkvm_caps;
	return 0;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, enum cpuid_reg reg)
{
	switch (reg) {
	case CPUID_EAX: return &e->eax;
	case CPUID_EBX: return &e->ebx;
	case CPUID_ECX: return &e->ecx;
	case CPUID_EDX: return &e->edx;
	}
	return NULL;
}

void cpu_template_apply(const struct cpu_template *t, struct kvm_cpuid_entry2 *entries, size_t n)
{
	if (!t || !entries)
		return;
	for (size_t i = 0; i < n; i++) {
		struct kvm_cpuid_entry2 *e = &entries[i];
		for (size_t j = 0; j < t->nmods; j++) {
			const struct cpuid_modifier *m = &t->mods[j];
			if (m->leaf != e->function || (!m->any_subleaf && m->subleaf != e->index))
				continue;
			uint32_t *reg = entry_reg(e, m->reg);
			if (reg)
				*reg = (*reg & ~m->mask) | (m->value & m->mask);
		}
	}
}
