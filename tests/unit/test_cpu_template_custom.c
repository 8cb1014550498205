/* Unit tests for src/config/cpu_template.c: custom template JSON (parsing, bitmaps, applying
 * to CPUID entries, appending to a named template) and loading one from a file. */
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

/* ---- files ---- */

TEST(load_file)
{
	struct cpu_template t;
	char err[512];
	char *path = write_temp(full_template, strlen(full_template));
	REQUIRE_EQ(cpu_template_load_file(path, &t, err, sizeof(err)), 0);
	CHECK_EQ(t.nmods, 4);
	CHECK_EQ(t.nmsrs, 2);
	cpu_template_free(&t);
	remove_temp(path);

	path = write_temp("{\"foo\":1}", 9);
	CHECK_EQ(cpu_template_load_file(path, &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, "foo: unknown field");
	remove_temp(path);

	path = write_temp("{}\0{\"foo\":1}", 12);
	CHECK_EQ(cpu_template_load_file(path, &t, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "NUL");
	remove_temp(path);

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
