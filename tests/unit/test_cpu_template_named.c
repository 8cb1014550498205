/* Unit tests for src/config/cpu_template.c: the named templates (C3, T2, T2S, T2CL, T2A) on
 * an all-ones host table: what each hides, what none may hide, how they nest. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "config/cpu_template.h"
#include "unit.h"
#include "cpuid_fake.h"

/* Apply the named template to an all-ones host table. */
static int apply_named(const char *name, struct kvm_cpuid_entry2 *e)
{
	struct cpu_template t;
	int r = cpu_template_named(name, &t);
	fake_host(e);
	if (r == 0)
		cpu_template_apply(&t, e, NHOST);
	cpu_template_free(&t);
	return r;
}

static const char *const named[] = { "C3", "T2", "T2S", "T2CL", "T2A" };
#define NNAMED (sizeof(named) / sizeof(named[0]))

/* ---- named templates ---- */

TEST(named_none_is_empty)
{
	struct cpu_template t;
	REQUIRE_EQ(cpu_template_named("None", &t), 0);
	CHECK_STR_EQ(t.name, "None");
	CHECK_EQ(t.nmods, 0);
	CHECK_EQ(t.nmsrs, 0);
	CHECK_EQ(t.nkvm_caps, 0);
	cpu_template_free(&t);

	struct kvm_cpuid_entry2 e[NHOST];
	REQUIRE_EQ(apply_named("None", e), 0);
	for (size_t i = 0; i < NHOST; i++) {
		CHECK_EQ_HEX(e[i].eax, ONES);
		CHECK_EQ_HEX(e[i].ebx, ONES);
		CHECK_EQ_HEX(e[i].ecx, ONES);
		CHECK_EQ_HEX(e[i].edx, ONES);
	}
}

TEST(named_unknown_is_enoent)
{
	struct cpu_template t;
	CHECK_EQ(cpu_template_named("t2", &t), -ENOENT);     /* case-sensitive */
	CHECK_EQ(cpu_template_named("none", &t), -ENOENT);
	CHECK_EQ(cpu_template_named("V1N1", &t), -ENOENT);   /* aarch64 */
	CHECK_EQ(cpu_template_named("T3", &t), -ENOENT);
	CHECK_EQ(cpu_template_named("", &t), -ENOENT);
	CHECK_EQ(cpu_template_named("T2 ", &t), -ENOENT);
	CHECK_EQ(cpu_template_named(NULL, &t), -ENOENT);
	CHECK_EQ(t.nmods, 0);
	CHECK_NULL(t.mods);
}

TEST(named_templates_only_hide)
{
	for (size_t i = 0; i < NNAMED; i++) {
		struct cpu_template t;
		REQUIRE_EQ(cpu_template_named(named[i], &t), 0);
		CHECK_STR_EQ(t.name, named[i]);
		CHECK(t.nmods > 0);
		for (size_t j = 0; j < t.nmods; j++) {
			CHECK(t.mods[j].mask != 0);
			CHECK_EQ_HEX(t.mods[j].value, 0);
		}
		cpu_template_free(&t);
		CHECK_EQ(t.nmods, 0);
		CHECK_NULL(t.mods);
	}
}

TEST(named_templates_one_modifier_per_register)
{
	for (size_t i = 0; i < NNAMED; i++) {
		struct cpu_template t;
		REQUIRE_EQ(cpu_template_named(named[i], &t), 0);
		for (size_t a = 0; a < t.nmods; a++)
			for (size_t b = a + 1; b < t.nmods; b++)
				CHECK(!(t.mods[a].leaf == t.mods[b].leaf &&
					t.mods[a].subleaf == t.mods[b].subleaf &&
					t.mods[a].any_subleaf == t.mods[b].any_subleaf &&
					t.mods[a].reg == t.mods[b].reg));
		cpu_template_free(&t);
	}
}

TEST(named_templates_keep_mitigations_and_basics)
{
	struct kvm_cpuid_entry2 e[NHOST];
	for (size_t i = 0; i < NNAMED; i++) {
		REQUIRE_EQ(apply_named(named[i], e), 0);
		CHECK(HAS(e, 0x1, 0, ecx, 31));           /* hypervisor */
		CHECK(HAS(e, 0x1, 0, ecx, 0));            /* SSE3 */
		CHECK(HAS(e, 0x1, 0, ecx, 26));           /* XSAVE */
		CHECK(HAS(e, 0x1, 0, edx, 25));           /* SSE */
		CHECK(HAS(e, 0x7, 0, edx, 10));           /* MD_CLEAR */
		CHECK(HAS(e, 0x7, 0, edx, 26));           /* IBRS/IBPB */
		CHECK(HAS(e, 0x7, 0, edx, 27));           /* STIBP */
		CHECK(HAS(e, 0x7, 0, edx, 28));           /* L1D_FLUSH */
		CHECK(HAS(e, 0x7, 0, edx, 29));           /* ARCH_CAPABILITIES */
		CHECK(HAS(e, 0x7, 0, edx, 31));           /* SSBD */
		CHECK(HAS(e, 0x7, 0, ecx, 2));            /* UMIP */
		CHECK(HAS(e, 0x80000008, 0, ebx, 12));    /* AMD IBPB */
		CHECK(HAS(e, 0x80000008, 0, ebx, 14));    /* AMD IBRS */
		CHECK(HAS(e, 0x80000008, 0, ebx, 15));    /* AMD STIBP */
		CHECK(HAS(e, 0x80000008, 0, ebx, 24));    /* AMD SSBD */
		CHECK(HAS(e, 0xd, 0, eax, 0));            /* x87 state */
		CHECK(HAS(e, 0xd, 0, eax, 1));            /* SSE state */
		CHECK(HAS(e, 0xd, 0, eax, 2));            /* AVX state */
		CHECK(HAS(e, 0x80000001, 0, edx, 29));    /* long mode */
		CHECK(HAS(e, 0x80000001, 0, edx, 20));    /* NX */
		/* and hide what never migrates */
		CHECK(!HAS(e, 0x1, 0, ecx, 5));           /* VMX */
		CHECK(!HAS(e, 0x80000001, 0, ecx, 2));    /* SVM */
		CHECK(!HAS(e, 0x7, 0, ebx, 2));           /* SGX */
		CHECK(!HAS(e, 0x7, 0, ebx, 14));          /* MPX */
		CHECK(!HAS(e, 0x7, 0, ebx, 25));          /* Intel PT */
		CHECK(!HAS(e, 0x7, 0, ebx, 4));           /* HLE */
		CHECK(!HAS(e, 0x7, 0, ebx, 11));          /* RTM */
		/* leaves that no template touches */
		CHECK_EQ_HEX(find(e, 0x4, 0)->eax, ONES);
		CHECK_EQ_HEX(find(e, 0x4, 1)->edx, ONES);
	}
}

TEST(named_t2_is_haswell)
{
	struct kvm_cpuid_entry2 e[NHOST];
	REQUIRE_EQ(apply_named("T2", e), 0);
	/* Haswell features stay */
	CHECK(HAS(e, 0x7, 0, ebx, 5));     /* AVX2 */
	CHECK(HAS(e, 0x7, 0, ebx, 3));     /* BMI1 */
	CHECK(HAS(e, 0x7, 0, ebx, 8));     /* BMI2 */
	CHECK(HAS(e, 0x1, 0, ecx, 12));    /* FMA */
	CHECK(HAS(e, 0x1, 0, ecx, 22));    /* MOVBE */
	CHECK(HAS(e, 0x80000001, 0, ecx, 5)); /* LZCNT */
	/* AVX-512 family and its state go */
	CHECK(!HAS(e, 0x7, 0, ebx, 16));   /* AVX512F */
	CHECK(!HAS(e, 0x7, 0, ebx, 17));   /* AVX512DQ */
	CHECK(!HAS(e, 0x7, 0, ebx, 28));   /* AVX512CD */
	CHECK(!HAS(e, 0x7, 0, ebx, 30));   /* AVX512BW */
	CHECK(!HAS(e, 0x7, 0, ebx, 31));   /* AVX512VL */
	CHECK(!HAS(e, 0x7, 0, ecx, 11));   /* AVX512_VNNI */
	CHECK(!HAS(e, 0x7, 1, eax, 5));    /* AVX512_BF16 */
	CHECK(!HAS(e, 0xd, 0, eax, 5));    /* opmask state */
	CHECK(!HAS(e, 0xd, 0, eax, 6));
	CHECK(!HAS(e, 0xd, 0, eax, 7));
	/* Broadwell and later */
	CHECK(!HAS(e, 0x7, 0, ebx, 18));   /* RDSEED */
	CHECK(!HAS(e, 0x7, 0, ebx, 19));   /* ADX */
	CHECK(!HAS(e, 0x7, 0, ecx, 3));    /* PKU */
	CHECK(!HAS(e, 0xd, 0, eax, 9));    /* PKRU state */
	CHECK(!HAS(e, 0x7, 0, ecx, 16));   /* LA57 */
	CHECK(!HAS(e, 0xd, 1, eax, 3));    /* XSAVES */
	CHECK(HAS(e, 0xd, 1, eax, 0));     /* XSAVEOPT stays */
	/* subleaf 0 masks must not leak into subleaf 1 */
	CHECK_EQ_HEX(find(e, 0x7, 1)->ebx, ONES);
	CHECK_EQ_HEX(find(e, 0x7, 1)->ecx, ONES);
}

TEST(named_t2s_same_cpuid_as_t2)
{
	struct kvm_cpuid_entry2 a[NHOST], b[NHOST];
	REQUIRE_EQ(apply_named("T2", a), 0);
	REQUIRE_EQ(apply_named("T2S", b), 0);
	CHECK(memcmp(a, b, sizeof(a)) == 0);
}

TEST(named_c3_is_ivy_bridge)
{
	struct kvm_cpuid_entry2 e[NHOST];
	REQUIRE_EQ(apply_named("C3", e), 0);
	CHECK(!HAS(e, 0x7, 0, ebx, 5));    /* AVX2 */
	CHECK(!HAS(e, 0x1, 0, ecx, 12));   /* FMA */
	CHECK(!HAS(e, 0x80000001, 0, ecx, 5)); /* LZCNT */
	CHECK(!HAS(e, 0x7, 0, ebx, 16));   /* AVX512F */
	CHECK(HAS(e, 0x1, 0, ecx, 28));    /* AVX stays */
	CHECK(HAS(e, 0x1, 0, ecx, 30));    /* RDRAND stays */
	CHECK(HAS(e, 0x7, 0, ebx, 0));     /* FSGSBASE stays */
	CHECK(HAS(e, 0x7, 0, ebx, 7));     /* SMEP stays */
	CHECK(HAS(e, 0x7, 0, ebx, 9));     /* ERMS stays */
	CHECK(!HAS(e, 0x7, 0, ebx, 18));   /* RDSEED (Broadwell) */
	CHECK(!HAS(e, 0x7, 0, ebx, 20));   /* SMAP (Broadwell) */
	CHECK(!HAS(e, 0x80000001, 0, ecx, 8)); /* PREFETCHW (Broadwell) */
	CHECK(!HAS(e, 0x7, 0, ebx, 23));   /* CLFLUSHOPT (Skylake) */
}

TEST(named_t2cl_keeps_cascade_lake_avx512)
{
	struct kvm_cpuid_entry2 e[NHOST];
	REQUIRE_EQ(apply_named("T2CL", e), 0);
	CHECK(HAS(e, 0x7, 0, ebx, 16));    /* AVX512F */
	CHECK(HAS(e, 0x7, 0, ebx, 31));    /* AVX512VL */
	CHECK(HAS(e, 0x7, 0, ecx, 11));    /* AVX512_VNNI */
	CHECK(HAS(e, 0x7, 0, ecx, 3));     /* PKU */
	CHECK(HAS(e, 0xd, 0, eax, 7));     /* Hi16_ZMM state */
	CHECK(HAS(e, 0x7, 0, ebx, 18));    /* RDSEED */
	CHECK(!HAS(e, 0x7, 0, ecx, 1));    /* AVX512_VBMI (Ice Lake) */
	CHECK(!HAS(e, 0x7, 0, ecx, 8));    /* GFNI */
	CHECK(!HAS(e, 0x7, 0, ebx, 29));   /* SHA */
	CHECK(!HAS(e, 0x7, 0, edx, 24));   /* AMX-TILE */
	CHECK(!HAS(e, 0xd, 0, eax, 18));   /* AMX tile data state */
}

/* Older baselines hide a superset of what newer ones hide: C3 < T2 < T2CL, and T2A < T2CL. */
TEST(named_generations_are_nested)
{
	static const char *const pairs[][2] = {
		{ "C3", "T2" }, { "T2", "T2CL" }, { "C3", "T2CL" }, { "T2A", "T2CL" },
	};
	for (size_t p = 0; p < sizeof(pairs) / sizeof(pairs[0]); p++) {
		struct kvm_cpuid_entry2 older[NHOST], newer[NHOST];
		REQUIRE_EQ(apply_named(pairs[p][0], older), 0);
		REQUIRE_EQ(apply_named(pairs[p][1], newer), 0);
		bool strictly = false;
		for (size_t i = 0; i < NHOST; i++) {
			/* a bit the older baseline keeps must be kept by the newer one */
			CHECK_EQ_HEX(older[i].eax & ~newer[i].eax, 0);
			CHECK_EQ_HEX(older[i].ebx & ~newer[i].ebx, 0);
			CHECK_EQ_HEX(older[i].ecx & ~newer[i].ecx, 0);
			CHECK_EQ_HEX(older[i].edx & ~newer[i].edx, 0);
			strictly |= memcmp(&older[i], &newer[i], sizeof(older[i])) != 0;
		}
		CHECK(strictly);
	}
}

TEST(named_t2a_hides_amd_only)
{
	struct kvm_cpuid_entry2 e[NHOST];
	REQUIRE_EQ(apply_named("T2A", e), 0);
	CHECK(!HAS(e, 0x80000001, 0, ecx, 6));   /* SSE4A */
	CHECK(!HAS(e, 0x80000001, 0, ecx, 11));  /* XOP */
	CHECK(!HAS(e, 0x80000001, 0, ecx, 16));  /* FMA4 */
	CHECK(!HAS(e, 0x80000001, 0, edx, 31));  /* 3DNow! */
	CHECK(!HAS(e, 0x80000008, 0, ebx, 0));   /* CLZERO */
	CHECK(!HAS(e, 0x7, 0, ebx, 16));         /* AVX512F */
	CHECK(HAS(e, 0x7, 0, ebx, 5));           /* AVX2 */
	CHECK(HAS(e, 0x80000001, 0, ecx, 22));   /* TopologyExtensions stays */
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
