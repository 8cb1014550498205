/* Unit tests for src/arch/x86/cpu_template.c: named templates, custom template JSON, apply. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "arch/x86/cpu_template.h"
#include "unit.h"

#define BIT(n) (UINT32_C(1) << (n))
#define ONES 0xffffffffu

/* ---- a fake host CPUID table with every bit set ---- */

static const struct {
	uint32_t leaf, subleaf;
} host_leaves[] = {
	{ 0x1, 0 }, { 0x4, 0 }, { 0x4, 1 }, { 0x7, 0 }, { 0x7, 1 }, { 0xd, 0 }, { 0xd, 1 },
	{ 0x80000001, 0 }, { 0x80000008, 0 },
};
#define NHOST (sizeof(host_leaves) / sizeof(host_leaves[0]))

static void fake_host(struct kvm_cpuid_entry2 *e)
{
	memset(e, 0, sizeof(*e) * NHOST);
	for (size_t i = 0; i < NHOST; i++) {
		e[i].function = host_leaves[i].leaf;
		e[i].index = host_leaves[i].subleaf;
		e[i].eax = e[i].ebx = e[i].ecx = e[i].edx = ONES;
	}
}

static struct kvm_cpuid_entry2 *find(struct kvm_cpuid_entry2 *e, uint32_t leaf, uint32_t sub)
{
	for (size_t i = 0; i < NHOST; i++)
		if (e[i].function == leaf && e[i].index == sub)
			return &e[i];
	abort();
}

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

#define HAS(e, leaf, sub, reg, bit) ((find(e, leaf, sub)->reg & BIT(bit)) != 0)

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

/* ---- custom templates ---- */

static const char *const full_template =
	"{"
	" \"cpuid_modifiers\": ["
	"  {\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": ["
	"    {\"register\": \"ecx\", \"bitmap\": \"0bxxxxxxxxxxxxxxxxxx0xxxxxxxxxxxxx\"},"
	"    {\"register\": \"edx\", \"bitmap\": \"0b1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0\"}"
	"  ]},"
	"  {\"leaf\": 7, \"subleaf\": \"0b1\", \"flags\": 1, \"modifiers\": ["
	"    {\"register\": \"eax\", \"bitmap\": \"0b0000_0000_0000_0000_0000_0000_0000_0101\"}"
	"  ]},"
	"  {\"leaf\": \"2147483656\", \"subleaf\": 0, \"flags\": 1, \"modifiers\": ["
	"    {\"register\": \"ebx\", \"bitmap\": \"0b11111111111111111111111111111111\"}"
	"  ]},"
	"  {\"leaf\": \"0xFFFFFFFF\", \"subleaf\": \"4294967295\", \"flags\": 7, \"modifiers\": []}"
	" ],"
	" \"msr_modifiers\": ["
	"  {\"addr\": \"0x10a\", \"bitmap\": \"0b0000000000000000000000000000000000000000000000000000000000x1xx01\"},"
	"  {\"addr\": \"266\", \"bitmap\": \"0b1xxxxxxx_xxxxxxxx_xxxxxxxx_xxxxxxxx_xxxxxxxx_xxxxxxxx_xxxxxxxx_xxxxxxx0\"}"
	" ],"
	" \"kvm_capabilities\": [\"121\", \"!7\", \"0\"]"
	"}";

TEST(custom_parses_everything)
{
	struct cpu_template t;
	char err[256] = "";
	int r = cpu_template_parse_json(full_template, &t, err, sizeof(err));
	if (r)
		printf("  error: %s\n", err);
	REQUIRE_EQ(r, 0);
	CHECK_STR_EQ(t.name, "custom");
	REQUIRE_EQ(t.nmods, 4);

	CHECK_EQ_HEX(t.mods[0].leaf, 1);
	CHECK_EQ_HEX(t.mods[0].subleaf, 0);
	CHECK(t.mods[0].any_subleaf);
	CHECK_EQ(t.mods[0].reg, CPUID_ECX);
	CHECK_EQ_HEX(t.mods[0].mask, BIT(13));
	CHECK_EQ_HEX(t.mods[0].value, 0);

	CHECK_EQ(t.mods[1].reg, CPUID_EDX);
	CHECK_EQ_HEX(t.mods[1].mask, BIT(31) | BIT(0));
	CHECK_EQ_HEX(t.mods[1].value, BIT(31));

	CHECK_EQ_HEX(t.mods[2].leaf, 7);
	CHECK_EQ_HEX(t.mods[2].subleaf, 1);
	CHECK(!t.mods[2].any_subleaf);
	CHECK_EQ(t.mods[2].reg, CPUID_EAX);
	CHECK_EQ_HEX(t.mods[2].mask, ONES);
	CHECK_EQ_HEX(t.mods[2].value, 5);

	CHECK_EQ_HEX(t.mods[3].leaf, 0x80000008);
	CHECK_EQ(t.mods[3].reg, CPUID_EBX);
	CHECK_EQ_HEX(t.mods[3].mask, ONES);
	CHECK_EQ_HEX(t.mods[3].value, ONES);

	REQUIRE_EQ(t.nmsrs, 2);
	CHECK_EQ_HEX(t.msrs[0].addr, 0x10a);
	CHECK_EQ_HEX(t.msrs[0].mask, ~UINT64_C(0) & ~UINT64_C(0x2c));
	CHECK_EQ_HEX(t.msrs[0].value, 0x11);
	CHECK_EQ_HEX(t.msrs[1].addr, 266);
	CHECK_EQ_HEX(t.msrs[1].mask, (UINT64_C(1) << 63) | 1);
	CHECK_EQ_HEX(t.msrs[1].value, UINT64_C(1) << 63);

	REQUIRE_EQ(t.nkvm_caps, 3);
	CHECK_EQ(t.kvm_caps[0].cap, 121);
	CHECK(!t.kvm_caps[0].remove);
	CHECK_EQ(t.kvm_caps[1].cap, 7);
	CHECK(t.kvm_caps[1].remove);
	CHECK_EQ(t.kvm_caps[2].cap, 0);
	cpu_template_free(&t);
}

TEST(custom_empty_is_ok)
{
	static const char *const ok[] = {
		"{}",
		"{\"cpuid_modifiers\": [], \"msr_modifiers\": [], \"kvm_capabilities\": []}",
		"{\"cpuid_modifiers\": null}",
		" \n{ }\n ",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct cpu_template t;
		char err[256] = "";
		CHECK_EQ(cpu_template_parse_json(ok[i], &t, err, sizeof(err)), 0);
		CHECK_EQ(t.nmods + t.nmsrs + t.nkvm_caps, 0);
		cpu_template_free(&t);
	}
}

TEST(custom_bitmap_bit_order)
{
	struct cpu_template t;
	char err[256];
	REQUIRE_EQ(cpu_template_parse_json(
		"{\"cpuid_modifiers\":[{\"leaf\":\"0x0\",\"subleaf\":\"0x0\",\"flags\":0,\"modifiers\":["
		"{\"register\":\"eax\",\"bitmap\":\"0b1xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},"
		"{\"register\":\"ebx\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx0\"},"
		"{\"register\":\"ecx\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},"
		"{\"register\":\"edx\",\"bitmap\":\"0b01xxxxxxxxxxxxxxxxxxxxxxxxxxxx10\"}]}]}",
		&t, err, sizeof(err)), 0);
	REQUIRE_EQ(t.nmods, 4);
	CHECK_EQ_HEX(t.mods[0].mask, 0x80000000);
	CHECK_EQ_HEX(t.mods[0].value, 0x80000000);
	CHECK_EQ_HEX(t.mods[1].mask, 1);
	CHECK_EQ_HEX(t.mods[1].value, 0);
	CHECK_EQ_HEX(t.mods[2].mask, 0);
	CHECK_EQ_HEX(t.mods[3].mask, 0xc0000003);
	CHECK_EQ_HEX(t.mods[3].value, 0x40000002);
	cpu_template_free(&t);
}

TEST(custom_apply_on_fake_entries)
{
	struct cpu_template t;
	char err[256];
	/* leaf 1: ecx bit 13 forced 0, bit 0 forced 1; leaf 7 subleaf 0 only (flags 1): ebx low
	 * byte forced to 0x5a; leaf 4 any subleaf (flags 0): eax forced to 0; then a second leaf 1
	 * modifier that sets bit 13 again (later wins). */
	REQUIRE_EQ(cpu_template_parse_json(
		"{\"cpuid_modifiers\":["
		"{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0,\"modifiers\":["
		"  {\"register\":\"ecx\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxx0xxxxxxxxxxxx1\"}]},"
		"{\"leaf\":\"0x7\",\"subleaf\":\"0x0\",\"flags\":1,\"modifiers\":["
		"  {\"register\":\"ebx\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxx01011010\"}]},"
		"{\"leaf\":\"0x4\",\"subleaf\":\"0x0\",\"flags\":0,\"modifiers\":["
		"  {\"register\":\"eax\",\"bitmap\":\"0b00000000000000000000000000000000\"}]}"
		"]}", &t, err, sizeof(err)), 0);

	struct kvm_cpuid_entry2 e[NHOST];
	fake_host(e);
	find(e, 0x1, 0)->ecx = 0x00002000;   /* bit 13 set, bit 0 clear */
	cpu_template_apply(&t, e, NHOST);
	CHECK_EQ_HEX(find(e, 0x1, 0)->ecx, 0x00000001);
	CHECK_EQ_HEX(find(e, 0x1, 0)->eax, ONES);
	CHECK_EQ_HEX(find(e, 0x7, 0)->ebx, 0xffffff5a);
	CHECK_EQ_HEX(find(e, 0x7, 1)->ebx, ONES);        /* significant index: subleaf 1 untouched */
	CHECK_EQ_HEX(find(e, 0x4, 0)->eax, 0);
	CHECK_EQ_HEX(find(e, 0x4, 1)->eax, 0);           /* any subleaf */
	CHECK_EQ_HEX(find(e, 0x4, 1)->ebx, ONES);
	CHECK_EQ_HEX(find(e, 0x80000001, 0)->ecx, ONES);

	/* later modifiers win */
	struct cpu_template extra;
	REQUIRE_EQ(cpu_template_parse_json(
		"{\"cpuid_modifiers\":[{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":["
		"  {\"register\":\"ecx\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxx1xxxxxxxxxxxxx\"}]}]}",
		&extra, err, sizeof(err)), 0);
	REQUIRE_EQ(cpu_template_append(&t, &extra), 0);
	CHECK_EQ(t.nmods, 4);
	fake_host(e);
	find(e, 0x1, 0)->ecx = 0;
	cpu_template_apply(&t, e, NHOST);
	CHECK_EQ_HEX(find(e, 0x1, 0)->ecx, 0x00002001);

	/* nothing to apply to, or nothing to apply */
	cpu_template_apply(&t, e, 0);
	cpu_template_apply(&t, NULL, 0);
	cpu_template_apply(NULL, e, NHOST);
	cpu_template_free(&extra);
	cpu_template_free(&t);
}

TEST(append_named_then_custom)
{
	struct cpu_template t, c;
	char err[256];
	REQUIRE_EQ(cpu_template_named("T2", &t), 0);
	size_t n = t.nmods;
	REQUIRE_EQ(cpu_template_parse_json(
		"{\"cpuid_modifiers\":[{\"leaf\":\"0x7\",\"subleaf\":\"0x0\",\"flags\":1,\"modifiers\":["
		"  {\"register\":\"ebx\",\"bitmap\":\"0bxxxxxxxxxxxxxxx1xxxxxxxxxxxxxxxx\"}]}],"
		" \"msr_modifiers\":[{\"addr\":\"0x1a0\",\"bitmap\":\"0b0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}],"
		" \"kvm_capabilities\":[\"!100\"]}", &c, err, sizeof(err)), 0);
	REQUIRE_EQ(cpu_template_append(&t, &c), 0);
	CHECK_EQ(t.nmods, n + 1);
	CHECK_EQ(t.nmsrs, 1);
	CHECK_EQ(t.nkvm_caps, 1);
	CHECK_STR_EQ(t.name, "T2");
	CHECK_EQ_HEX(t.mods[n].mask, BIT(16));
	CHECK_EQ_HEX(t.msrs[0].addr, 0x1a0);
	CHECK(t.kvm_caps[0].remove);

	struct kvm_cpuid_entry2 e[NHOST];
	fake_host(e);
	cpu_template_apply(&t, e, NHOST);
	CHECK(HAS(e, 0x7, 0, ebx, 16));      /* the custom template re-enabled AVX512F */
	CHECK(!HAS(e, 0x7, 0, ebx, 17));     /* the rest of T2 still applies */

	/* appending an empty template changes nothing */
	struct cpu_template empty = { 0 };
	REQUIRE_EQ(cpu_template_append(&t, &empty), 0);
	CHECK_EQ(t.nmods, n + 1);
	/* appending to an empty template copies */
	struct cpu_template copy = { 0 };
	REQUIRE_EQ(cpu_template_append(&copy, &t), 0);
	CHECK_EQ(copy.nmods, t.nmods);
	CHECK(memcmp(copy.mods, t.mods, t.nmods * sizeof(*t.mods)) == 0);
	CHECK(copy.mods != t.mods);
	cpu_template_free(&copy);
	cpu_template_free(&c);
	cpu_template_free(&t);
}

/* ---- errors ---- */

/* Parse `json`, expect -EINVAL, an error containing `msg`, and an empty template. */
#define EXPECT_ERR(json, msg)                                                                \
	do {                                                                                 \
		struct cpu_template t_;                                                      \
		char e_[512] = "";                                                           \
		CHECK_EQ(cpu_template_parse_json((json), &t_, e_, sizeof(e_)), -EINVAL);    \
		CHECK_CONTAINS(e_, (msg));                                                   \
		CHECK_EQ(t_.nmods + t_.nmsrs + t_.nkvm_caps, 0);                             \
		CHECK_NULL(t_.mods);                                                         \
		cpu_template_free(&t_);                                                      \
	} while (0)

/* A template with one leaf-1 modifier whose bitmap is `bm` (a C string literal). */
#define ONE_BITMAP(bm)                                                                       \
	"{\"cpuid_modifiers\":[{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0,\"modifiers\":[" \
	"{\"register\":\"ecx\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},"            \
	"{\"register\":\"ecx\",\"bitmap\":" bm "}]}]}"

#define BITMAP_MSG "cpuid_modifiers[0].modifiers[1].bitmap: expected 0b followed by 32 characters of 0, 1 or x"

TEST(custom_malformed_bitmaps)
{
	EXPECT_ERR(ONE_BITMAP("\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""), BITMAP_MSG);   /* 31 */
	EXPECT_ERR(ONE_BITMAP("\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""), BITMAP_MSG); /* 33 */
	EXPECT_ERR(ONE_BITMAP("\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""), BITMAP_MSG);    /* no 0b */
	EXPECT_ERR(ONE_BITMAP("\"0xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""), BITMAP_MSG);  /* 0x */
	EXPECT_ERR(ONE_BITMAP("\"0Bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""), BITMAP_MSG);  /* 0B */
	EXPECT_ERR(ONE_BITMAP("\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx2x\""), BITMAP_MSG);  /* 2 */
	EXPECT_ERR(ONE_BITMAP("\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxXx\""), BITMAP_MSG);  /* X */
	EXPECT_ERR(ONE_BITMAP("\"0bxxxxxxxxxxxxxxxx xxxxxxxxxxxxxxx\""), BITMAP_MSG);  /* space */
	EXPECT_ERR(ONE_BITMAP("\"0b\""), BITMAP_MSG);
	EXPECT_ERR(ONE_BITMAP("\"0\""), BITMAP_MSG);
	EXPECT_ERR(ONE_BITMAP("\"\""), BITMAP_MSG);
	EXPECT_ERR(ONE_BITMAP("\"0b________________________________\""), BITMAP_MSG);
	EXPECT_ERR(ONE_BITMAP("4294967295"), BITMAP_MSG);
	EXPECT_ERR(ONE_BITMAP("null"), BITMAP_MSG);
	EXPECT_ERR(ONE_BITMAP("[\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"]"), BITMAP_MSG);
	/* 64 characters is an MSR bitmap, not a CPUID one */
	EXPECT_ERR(ONE_BITMAP("\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""),
		   BITMAP_MSG);
}

TEST(custom_full_error_message)
{
	struct cpu_template t;
	char err[512];
	CHECK_EQ(cpu_template_parse_json(ONE_BITMAP("\"0b1\""), &t, err, sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, BITMAP_MSG);
}

#define ONE_MSR(addr, bm) "{\"msr_modifiers\":[{\"addr\":" addr ",\"bitmap\":" bm "}]}"
#define MSR64 "\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""

TEST(custom_msr_errors)
{
	struct cpu_template t;
	char err[256];
	REQUIRE_EQ(cpu_template_parse_json(ONE_MSR("\"0x10a\"", MSR64), &t, err, sizeof(err)), 0);
	CHECK_EQ(t.nmsrs, 1);
	CHECK_EQ_HEX(t.msrs[0].mask, 0);
	cpu_template_free(&t);

	EXPECT_ERR(ONE_MSR("\"0x10a\"", "\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\""),
		   "msr_modifiers[0].bitmap: expected 0b followed by 64 characters of 0, 1 or x");
	EXPECT_ERR(ONE_MSR("\"0x10a\"", "\"0b1\""), "msr_modifiers[0].bitmap: expected 0b");
	EXPECT_ERR(ONE_MSR("\"0xg\"", MSR64), "msr_modifiers[0].addr: expected a 32-bit number");
	EXPECT_ERR(ONE_MSR("\"0x100000000\"", MSR64), "msr_modifiers[0].addr: expected a 32-bit");
	EXPECT_ERR(ONE_MSR("-1", MSR64), "msr_modifiers[0].addr: -1 is out of range");
	EXPECT_ERR(ONE_MSR("true", MSR64), "msr_modifiers[0].addr: expected a 32-bit number");
	EXPECT_ERR("{\"msr_modifiers\":[{\"bitmap\":" MSR64 "}]}",
		   "msr_modifiers[0].addr: missing required field");
	EXPECT_ERR("{\"msr_modifiers\":[{\"addr\":\"0x10\"}]}",
		   "msr_modifiers[0].bitmap: missing required field");
	EXPECT_ERR("{\"msr_modifiers\":[{\"addr\":\"0x10\",\"bitmap\":" MSR64 ",\"x\":1}]}",
		   "msr_modifiers[0].x: unknown field");
	EXPECT_ERR("{\"msr_modifiers\":{}}", "msr_modifiers: expected an array");
	EXPECT_ERR("{\"msr_modifiers\":[1]}", "msr_modifiers[0]: expected an object");
}

/* One leaf object `leaf` inside cpuid_modifiers. */
#define ONE_LEAF(body) "{\"cpuid_modifiers\":[" body "]}"
#define MOD_OK "[{\"register\":\"eax\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]"

TEST(custom_leaf_errors)
{
	EXPECT_ERR(ONE_LEAF("{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0,\"modifiers\":" MOD_OK
			    ",\"extra\":1}"), "cpuid_modifiers[0].extra: unknown field");
	EXPECT_ERR(ONE_LEAF("{\"subleaf\":\"0x0\",\"flags\":0,\"modifiers\":" MOD_OK "}"),
		   "cpuid_modifiers[0].leaf: missing required field");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":\"0x1\",\"flags\":0,\"modifiers\":" MOD_OK "}"),
		   "cpuid_modifiers[0].subleaf: missing required field");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"modifiers\":" MOD_OK "}"),
		   "cpuid_modifiers[0].flags: missing required field");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":\"0x1\",\"subleaf\":\"0x0\",\"flags\":0}"),
		   "cpuid_modifiers[0].modifiers: missing required field");

	static const char *const bad_numbers[] = {
		"\"\"", "\"0x\"", "\"0b\"", "\"0b2\"", "\"0xZZ\"", "\"-1\"", "\"+1\"", "\" 1\"",
		"\"1 \"", "\"4294967296\"", "\"0x100000000\"", "\"99999999999999999999999\"",
		"\"1e3\"", "\"0o7\"", "4294967296", "-1", "1.5", "true", "null", "[]", "{}",
	};
	for (size_t i = 0; i < sizeof(bad_numbers) / sizeof(bad_numbers[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 ONE_LEAF("{\"leaf\":%s,\"subleaf\":\"0x0\",\"flags\":0,\"modifiers\":" MOD_OK "}"),
			 bad_numbers[i]);
		EXPECT_ERR(json, "cpuid_modifiers[0].leaf: ");
		snprintf(json, sizeof(json),
			 ONE_LEAF("{\"leaf\":1,\"subleaf\":%s,\"flags\":0,\"modifiers\":" MOD_OK "}"),
			 bad_numbers[i]);
		EXPECT_ERR(json, "cpuid_modifiers[0].subleaf: ");
	}

	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":\"0\",\"modifiers\":" MOD_OK "}"),
		   "cpuid_modifiers[0].flags: expected an integer");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":8,\"modifiers\":" MOD_OK "}"),
		   "cpuid_modifiers[0].flags: 8 has bits that are not KVM CPUID flags");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":-1,\"modifiers\":" MOD_OK "}"),
		   "cpuid_modifiers[0].flags: -1 has bits");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":{}}"),
		   "cpuid_modifiers[0].modifiers: expected an array");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":[\"eax\"]}"),
		   "cpuid_modifiers[0].modifiers[0]: expected an object");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":[{\"bitmap\":"
			    "\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}"),
		   "cpuid_modifiers[0].modifiers[0].register: missing required field");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":[{\"register\":"
			    "\"eax\"}]}"),
		   "cpuid_modifiers[0].modifiers[0].bitmap: missing required field");
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":[{\"register\":"
			    "\"eax\",\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\",\"mask\":1}]}"),
		   "cpuid_modifiers[0].modifiers[0].mask: unknown field");
	static const char *const bad_regs[] = { "\"EAX\"", "\"r8\"", "\"\"", "\"eaxx\"", "0", "null" };
	for (size_t i = 0; i < sizeof(bad_regs) / sizeof(bad_regs[0]); i++) {
		char json[512];
		snprintf(json, sizeof(json),
			 ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":[{\"register\":%s,"
				  "\"bitmap\":\"0bxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}]}"),
			 bad_regs[i]);
		EXPECT_ERR(json, "cpuid_modifiers[0].modifiers[0].register: expected one of eax, ebx, ecx, edx");
	}
	/* the index in the path is the failing element's */
	EXPECT_ERR(ONE_LEAF("{\"leaf\":1,\"subleaf\":0,\"flags\":0,\"modifiers\":" MOD_OK "},"
			    "{\"leaf\":2,\"subleaf\":0,\"flags\":0,\"modifiers\":" MOD_OK "},"
			    "{\"leaf\":3,\"subleaf\":0,\"flags\":0,\"modifiers\":[{\"register\":\"ebx\","
			    "\"bitmap\":\"0b0\"}]}"),
		   "cpuid_modifiers[2].modifiers[0].bitmap: expected 0b");
	EXPECT_ERR("{\"cpuid_modifiers\":\"0x1\"}", "cpuid_modifiers: expected an array");
	EXPECT_ERR("{\"cpuid_modifiers\":[null]}", "cpuid_modifiers[0]: expected an object");
}

TEST(custom_kvm_capability_errors)
{
	static const char *const bad[] = {
		"\"\"", "\"!\"", "\"!!1\"", "\"abc\"", "\"0x10\"", "\"-1\"", "\"1 \"", "\"4294967296\"",
		"121", "null", "[\"1\"]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char json[256];
		snprintf(json, sizeof(json), "{\"kvm_capabilities\":[\"1\",%s]}", bad[i]);
		EXPECT_ERR(json, "kvm_capabilities[1]: expected a KVM capability number");
	}
	EXPECT_ERR("{\"kvm_capabilities\":\"121\"}", "kvm_capabilities: expected an array");
}

TEST(custom_unknown_and_aarch64_fields)
{
	EXPECT_ERR("{\"cpuid_modifier\":[]}", "cpuid_modifier: unknown field");
	EXPECT_ERR("{\"cpuid_modifiers\":[],\"foo\":1}", "foo: unknown field");
	EXPECT_ERR("{\"reg_modifiers\":[]}", "reg_modifiers: only supported on aarch64");
	EXPECT_ERR("{\"vcpu_features\":[]}", "vcpu_features: only supported on aarch64");
}

TEST(custom_bad_json)
{
	EXPECT_ERR("", "invalid JSON");
	EXPECT_ERR("   ", "invalid JSON");
	EXPECT_ERR("{", "invalid JSON");
	EXPECT_ERR("{\"cpuid_modifiers\": [}", "invalid JSON");
	EXPECT_ERR("{} {}", "invalid JSON");
	EXPECT_ERR("{\"cpuid_modifiers\": [], \"cpuid_modifiers\": []}", "invalid JSON");  /* dup */
	EXPECT_ERR("{\"kvm_capabilities\": [\"1\\u00002\"]}", "invalid JSON");            /* NUL */
	EXPECT_ERR("[]", "expected a JSON object");
	EXPECT_ERR("null", "invalid JSON");
	EXPECT_ERR("42", "invalid JSON");

	struct cpu_template t;
	CHECK_EQ(cpu_template_parse_json(NULL, &t, NULL, 0), -EINVAL);
	CHECK_EQ(cpu_template_parse_json("{", &t, NULL, 0), -EINVAL);    /* no err buffer */
	char small[8];
	CHECK_EQ(cpu_template_parse_json("{", &t, small, sizeof(small)), -EINVAL);
	CHECK_EQ(strlen(small), sizeof(small) - 1);
}

TEST(custom_deep_nesting)
{
	size_t depth = 100000;
	char *s = malloc(depth * 2 + 64);
	REQUIRE(s);
	/* raw nesting: the JSON parser's depth limit, not a stack overflow */
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	EXPECT_ERR(s, "invalid JSON");
	/* legal depth inside a field */
	size_t d = 1000, n = 0;
	n += (size_t)sprintf(s, "{\"cpuid_modifiers\":");
	for (size_t i = 0; i < d; i++)
		s[n++] = '[';
	for (size_t i = 0; i < d; i++)
		s[n++] = ']';
	strcpy(s + n, "}");
	EXPECT_ERR(s, "cpuid_modifiers[0]: expected an object");
	free(s);
}

/* ---- files ---- */

static char *write_temp(const char *content, size_t len)
{
	char *path = strdup("/tmp/petrel-test-tpl-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len)
		abort();
	close(fd);
	return path;
}

TEST(load_file)
{
	struct cpu_template t;
	char err[512];
	char *path = write_temp(full_template, strlen(full_template));
	REQUIRE_EQ(cpu_template_load_file(path, &t, err, sizeof(err)), 0);
	CHECK_EQ(t.nmods, 4);
	CHECK_EQ(t.nmsrs, 2);
	cpu_template_free(&t);
	unlink(path);
	free(path);

	path = write_temp("{\"foo\":1}", 9);
	CHECK_EQ(cpu_template_load_file(path, &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, "foo: unknown field");
	unlink(path);
	free(path);

	path = write_temp("{}\0{\"foo\":1}", 12);
	CHECK_EQ(cpu_template_load_file(path, &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "NUL");
	unlink(path);
	free(path);

	CHECK_EQ(cpu_template_load_file("/nonexistent/petrel.json", &t, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "/nonexistent/petrel.json");
	CHECK_CONTAINS(err, strerror(ENOENT));
	CHECK(cpu_template_load_file("/tmp", &t, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "/tmp");
	CHECK_EQ(t.nmods, 0);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
