/* Unit tests for src/config/vm_config.c: the error each bad boot-source, machine-config and
 * cpu-config field gives, broken and deeply nested JSON, and random corruptions of a good
 * document (0 or -EINVAL with a message, never a crash). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config/cpu_template.h"
#include "config/vm_config.h"
#include "unit.h"
#include "config_json.h"

TEST(boot_source_errors)
{
	EXPECT_ERR("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"foo\": 1}}",
		   "boot-source.foo: unknown field");
	EXPECT_ERR("{\"boot-source\": {}}", "boot-source.kernel_image_path: missing required field");
	EXPECT_ERR("{\"boot-source\": {\"kernel_image_path\": null}}",
		   "boot-source.kernel_image_path: missing required field");
	EXPECT_ERR("{\"boot-source\": {\"boot_args\": \"x\"}}",
		   "boot-source.kernel_image_path: missing required field");
	EXPECT_ERR("{\"boot-source\": {\"kernel_image_path\": 5}}",
		   "boot-source.kernel_image_path: expected a string");
	EXPECT_ERR("{\"boot-source\": {\"kernel_image_path\": \"\"}}",
		   "boot-source.kernel_image_path: must not be empty");
	EXPECT_ERR("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": true}}",
		   "boot-source.boot_args: expected a string");
	EXPECT_ERR("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"initrd_path\": []}}",
		   "boot-source.initrd_path: expected a string");
	EXPECT_ERR("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"initrd_path\": \"\"}}",
		   "boot-source.initrd_path: must not be empty");
	EXPECT_ERR("{\"boot-source\": []}", "boot-source: expected an object");
	EXPECT_ERR("{\"boot-source\": \"/k\"}", "boot-source: expected an object");
	EXPECT_OK("{\"boot-source\": null}"); /* null is "not given" (Firecracker) */
	EXPECT_OK("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"boot_args\": \"\"}}");
}

TEST(machine_config_wrong_types)
{
	EXPECT_ERR(MACHINE("\"vcpu_count\": \"2\", \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: expected an integer");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 2.0, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: expected an integer");
	EXPECT_ERR(MACHINE("\"vcpu_count\": true, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: expected an integer");
	EXPECT_ERR(MACHINE("\"vcpu_count\": null, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: expected an integer");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 2, \"mem_size_mib\": \"256\""),
		   "machine-config.mem_size_mib: expected an integer");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 2, \"mem_size_mib\": 256.5"),
		   "machine-config.mem_size_mib: expected an integer");
	EXPECT_ERR(MACHINE(MC_OK ", \"smt\": \"true\""), "machine-config.smt: expected a boolean");
	EXPECT_ERR(MACHINE(MC_OK ", \"smt\": 1"), "machine-config.smt: expected a boolean");
	EXPECT_ERR(MACHINE(MC_OK ", \"track_dirty_pages\": 0"),
		   "machine-config.track_dirty_pages: expected a boolean");
	EXPECT_ERR(MACHINE(MC_OK ", \"cpu_template\": 2"),
		   "machine-config.cpu_template: expected a string");
	EXPECT_ERR(MACHINE(MC_OK ", \"huge_pages\": 2"),
		   "machine-config.huge_pages: expected one of None, Transparent, 2M");
	EXPECT_ERR("{" BOOT ", \"machine-config\": [2, 256]}", "machine-config: expected an object");
	EXPECT_OK("{" BOOT ", \"machine-config\": null}"); /* null is "not given" */
}

TEST(machine_config_unknown_and_missing)
{
	EXPECT_ERR(MACHINE(MC_OK ", \"gdb_socket_path\": \"/s\""),
		   "machine-config.gdb_socket_path: unknown field");
	EXPECT_ERR(MACHINE(MC_OK ", \"vcpus\": 2"), "machine-config.vcpus: unknown field");
	EXPECT_ERR(MACHINE("\"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: missing required field");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 2"),
		   "machine-config.mem_size_mib: missing required field");
	EXPECT_ERR(MACHINE(""), "machine-config.vcpu_count: missing required field");
}

TEST(machine_config_ranges)
{
	EXPECT_ERR(MACHINE("\"vcpu_count\": 0, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: must be between 1 and 64 (got 0)");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 65, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: must be between 1 and 64 (got 65)");
	EXPECT_ERR(MACHINE("\"vcpu_count\": -1, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: must be between 1 and 64 (got -1)");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 4294967297, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: must be between");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 9223372036854775807, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: must be between");
	EXPECT_ERR(MACHINE("\"vcpu_count\": -9223372036854775808, \"mem_size_mib\": 256"),
		   "machine-config.vcpu_count: must be between");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 99999999999999999999, \"mem_size_mib\": 256"),
		   "invalid JSON");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 1e400, \"mem_size_mib\": 256"), "invalid JSON");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 15"),
		   "machine-config.mem_size_mib: must be between 16 and 1048576 (got 15)");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 0"),
		   "machine-config.mem_size_mib: must be between");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": -128"),
		   "machine-config.mem_size_mib: must be between 16 and 1048576 (got -128)");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 1048577"),
		   "machine-config.mem_size_mib: must be between");
	EXPECT_ERR(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 18446744073709551615"),
		   "invalid JSON");

	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json(MACHINE("\"vcpu_count\": 64, \"mem_size_mib\": 1048576"),
					&c, err, sizeof(err)), 0);
	CHECK_EQ(c.vcpus, 64);
	CHECK_EQ(c.mem_mib, 1048576);
	REQUIRE_EQ(vm_config_parse_json(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 16"),
					&c, err, sizeof(err)), 0);
	CHECK_EQ(c.vcpus, 1);
	CHECK_EQ(c.mem_mib, 16);
	vm_config_free(&c);
}

TEST(machine_config_smt)
{
	EXPECT_ERR(MACHINE("\"vcpu_count\": 3, \"mem_size_mib\": 256, \"smt\": true"),
		   "machine-config.vcpu_count: must be 1 or an even number when smt is enabled");
	EXPECT_OK(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 256, \"smt\": true"));
	EXPECT_OK(MACHINE("\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true"));
	EXPECT_OK(MACHINE("\"vcpu_count\": 3, \"mem_size_mib\": 256, \"smt\": false"));
}

TEST(machine_config_cpu_template_and_huge_pages)
{
	EXPECT_ERR(MACHINE(MC_OK ", \"cpu_template\": \"t2\""),
		   "machine-config.cpu_template: unknown template 't2'");
	EXPECT_ERR(MACHINE(MC_OK ", \"cpu_template\": \"\""),
		   "machine-config.cpu_template: unknown template ''");
	EXPECT_ERR(MACHINE(MC_OK ", \"cpu_template\": \"V1N1\""),
		   "machine-config.cpu_template: V1N1 is an aarch64 template");
	/* Firecracker's three: 4 KiB pages, THP, hugetlbfs 2 MiB pages (an even size in MiB) */
	EXPECT_OK(MACHINE(MC_OK ", \"huge_pages\": \"2M\""));
	EXPECT_OK(MACHINE(MC_OK ", \"huge_pages\": \"Transparent\""));
	EXPECT_OK(MACHINE(MC_OK ", \"huge_pages\": null"));
	EXPECT_ERR(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 129, \"huge_pages\": \"2M\""),
		   "machine-config.huge_pages: 2M needs an even mem_size_mib (got 129)");
	EXPECT_OK(MACHINE("\"vcpu_count\": 1, \"mem_size_mib\": 129, \"huge_pages\": \"Transparent\""));
	EXPECT_ERR(MACHINE(MC_OK ", \"huge_pages\": \"1G\""),
		   "machine-config.huge_pages: expected one of None, Transparent, 2M");
	EXPECT_ERR(MACHINE(MC_OK ", \"huge_pages\": \"none\""),
		   "machine-config.huge_pages: expected one of");
	EXPECT_OK(MACHINE(MC_OK ", \"huge_pages\": \"None\""));
}

/* huge_pages is kept and written back as it was given (GET /vm/config, snapshots). */
TEST(machine_config_huge_pages_round_trip)
{
	static const char *const names[] = { "None", "Transparent", "2M" };
	for (int i = 0; i < 3; i++) {
		char json[256], e[512] = "";
		snprintf(json, sizeof(json), MACHINE(MC_OK ", \"huge_pages\": \"%s\""), names[i]);
		struct vm_config c;
		vm_config_init(&c);
		REQUIRE_EQ(vm_config_parse_json(json, &c, e, sizeof(e)), 0);
		CHECK_EQ(c.huge_pages, i);
		json_t *mc = vm_machine_config_to_json(&c);
		REQUIRE(mc != NULL);
		CHECK_STR_EQ(json_string_value(json_object_get(mc, "huge_pages")), names[i]);
		json_decref(mc);
		vm_config_free(&c);
	}
}

TEST(cpu_config_errors)
{
	EXPECT_ERR("{" BOOT ", \"cpu-config\": []}", "cpu-config: expected an object");
	EXPECT_OK("{" BOOT ", \"cpu-config\": null}"); /* null is "not given" */
	EXPECT_ERR("{" BOOT ", \"cpu-config\": {\"foo\": 1}}", "cpu-config.foo: unknown field");
	EXPECT_ERR("{" BOOT ", \"cpu-config\": {\"cpuid_modifiers\": [{\"leaf\": \"0x1\","
		   " \"subleaf\": \"0x0\", \"flags\": 0, \"modifiers\": [{\"register\": \"ecx\","
		   " \"bitmap\": \"0b1\"}]}]}}",
		   "cpu-config.cpuid_modifiers[0].modifiers[0].bitmap: expected 0b followed by 32 "
		   "characters of 0, 1 or x");
	EXPECT_ERR("{" BOOT ", \"cpu-config\": {\"reg_modifiers\": []}}",
		   "cpu-config.reg_modifiers: only supported on aarch64");
	EXPECT_OK("{" BOOT ", \"cpu-config\": {}}");
}

TEST(non_object_and_broken_json)
{
	static const char *const bad_json[] = {
		"", " ", "{", "}", "{\"boot-source\": }", "{\"boot-source\" {}}", "{} x", "{}{}",
		"{'boot-source': {}}", "{\"boot-source\": {\"kernel_image_path\": \"/k\",}}",
		"null", "42", "\"config\"", "true", "\xff\xfe",
		"{\"boot-source\": {\"kernel_image_path\": \"a\\u0000b\"}}",           /* NUL */
		"{\"boot-source\": {\"kernel_image_path\": \"\xc3\x28\"}}",           /* bad UTF-8 */
		"{" BOOT ", \"boot-source\": {\"kernel_image_path\": \"/x\"}}",       /* duplicate */
	};
	for (size_t i = 0; i < sizeof(bad_json) / sizeof(bad_json[0]); i++)
		EXPECT_ERR(bad_json[i], "invalid JSON at line ");
	EXPECT_ERR("[]", "expected a JSON object at the top level");
	EXPECT_ERR("[" BOOT "]", "invalid JSON");
	EXPECT_ERR("[{" BOOT "}]", "expected a JSON object at the top level");
	EXPECT_OK("{}");

	struct vm_config c;
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json(NULL, &c, NULL, 0), -EINVAL);
	CHECK_EQ(vm_config_parse_json("{", &c, NULL, 0), -EINVAL);    /* no err buffer */
	char small[8];
	CHECK_EQ(vm_config_parse_json("{\"xyz\": 1}", &c, small, sizeof(small)), -EINVAL);
	CHECK_STR_EQ(small, "unknown");
	vm_config_free(&c);
}

TEST(deep_nesting)
{
	size_t depth = 200000;
	char *s = malloc(depth * 2 + 64);
	REQUIRE(s);
	size_t n = 0;
	while (n + 5 <= depth) {     /* {"a":{"a":{"a":... about 40000 levels, never closed */
		memcpy(s + n, "{\"a\":", 5);
		n += 5;
	}
	s[n] = '\0';
	EXPECT_ERR(s, "invalid JSON");
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	EXPECT_ERR(s, "invalid JSON");

	/* nesting the parser accepts, in places where an object or a number is expected */
	size_t d = 1500;
	n = (size_t)sprintf(s, "{\"boot-source\":");
	for (size_t i = 0; i < d; i++)
		s[n++] = '[';
	for (size_t i = 0; i < d; i++)
		s[n++] = ']';
	strcpy(s + n, "}");
	EXPECT_ERR(s, "boot-source: expected an object");

	n = (size_t)sprintf(s, "{\"cpu-config\":{\"cpuid_modifiers\":[{\"leaf\":");
	for (size_t i = 0; i < d; i++)
		n += (size_t)sprintf(s + n, "{\"x\":");
	s[n++] = '1';
	for (size_t i = 0; i < d; i++)
		s[n++] = '}';
	strcpy(s + n, ",\"subleaf\":0,\"flags\":0,\"modifiers\":[]}]}}");
	EXPECT_ERR(s, "cpu-config.cpuid_modifiers[0].leaf: expected a 32-bit number");
	free(s);
}

/* Every truncation of a good config, and many random corruptions of it, must be handled:
 * 0 or -EINVAL with a message, never a crash (run under ASan/UBSan in the sanitizer build). */
TEST(garbage_never_crashes)
{
	size_t len = strlen(full_config);
	char *s = malloc(len + 1);
	REQUIRE(s);
	for (size_t cut = 0; cut < len; cut++) {
		struct vm_config c;
		char err[512] = "";
		memcpy(s, full_config, cut);
		s[cut] = '\0';
		vm_config_init(&c);
		int r = vm_config_parse_json(s, &c, err, sizeof(err));
		/* only trailing whitespace can be dropped and still leave valid JSON */
		if (strspn(full_config + cut, " \n") == len - cut)
			CHECK_EQ(r, 0);
		else
			CHECK_EQ(r, -EINVAL);
		CHECK(r == 0 || err[0] != '\0');
		vm_config_free(&c);
	}

	static const char alphabet[] = "{}[]\":,0123456789-+.eExtrufalsn\\ \x01\xff";
	uint64_t state = 0x9e3779b97f4a7c15ull;
	int accepted = 0;
	for (int iter = 0; iter < 20000; iter++) {
		memcpy(s, full_config, len + 1);
		int flips = 1 + iter % 4;
		for (int f = 0; f < flips; f++) {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			size_t pos = (size_t)(state % len);
			s[pos] = alphabet[(state >> 32) % (sizeof(alphabet) - 1)];
		}
		struct vm_config c;
		char err[512] = "";
		vm_config_init(&c);
		int r = vm_config_parse_json(s, &c, err, sizeof(err));
		CHECK(r == 0 || r == -EINVAL);
		CHECK(r == 0 || err[0] != '\0');
		if (r == 0) {
			accepted++;
			(void)vm_config_validate(&c, err, sizeof(err));
			CHECK(c.vcpus >= 1 && c.vcpus <= VM_MAX_VCPUS);
			CHECK(c.mem_mib >= VM_MIN_MEM_MIB && c.mem_mib <= VM_MAX_MEM_MIB);
		}
		vm_config_free(&c);
	}
	CHECK(accepted > 0);   /* some corruptions only touch string contents */
	free(s);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
