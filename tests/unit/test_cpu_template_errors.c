/* Unit tests for src/config/cpu_template.c: the error every malformed custom template gives
 * (bitmaps, MSRs, leaves, KVM capabilities, unknown fields, bad and deeply nested JSON), always
 * with an empty template. */
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

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
