/* Unit tests for src/config/vm_config.c: the Firecracker --config-file format. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "arch/x86/cpu_template.h"
#include "config/vm_config.h"
#include "unit.h"

/* Parse `json` into a fresh config; expect -EINVAL and an error containing `msg`. */
#define EXPECT_ERR(json, msg)                                                                \
	do {                                                                                 \
		struct vm_config c_;                                                         \
		char e_[512] = "";                                                           \
		vm_config_init(&c_);                                                         \
		CHECK_EQ(vm_config_parse_json((json), &c_, e_, sizeof(e_)), -EINVAL);        \
		CHECK_CONTAINS(e_, (msg));                                                   \
		vm_config_free(&c_);                                                         \
	} while (0)

/* Parse `json` into a fresh config; expect success. */
#define EXPECT_OK(json)                                                                      \
	do {                                                                                 \
		struct vm_config c_;                                                         \
		char e_[512] = "";                                                           \
		vm_config_init(&c_);                                                         \
		int r_ = vm_config_parse_json((json), &c_, e_, sizeof(e_));                  \
		if (r_)                                                                      \
			printf("  error: %s\n", e_);                                         \
		CHECK_EQ(r_, 0);                                                             \
		vm_config_free(&c_);                                                         \
	} while (0)

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/k\"}"
/* A config whose machine-config body is `mc`. */
#define MACHINE(mc) "{" BOOT ", \"machine-config\": {" mc "}}"
#define MC_OK "\"vcpu_count\": 2, \"mem_size_mib\": 256"

TEST(init_defaults)
{
	struct vm_config c;
	memset(&c, 0xa5, sizeof(c));
	vm_config_init(&c);
	CHECK_EQ(c.vcpus, 1);
	CHECK_EQ(c.mem_mib, 128);
	CHECK_EQ(c.pvm_workarounds, -1);
	CHECK_NULL(c.kernel_path);
	CHECK_NULL(c.initrd_path);
	CHECK_NULL(c.cmdline);
	CHECK_NULL(c.cpu_template);
	CHECK_NULL(c.cpu_config_path);
	CHECK_NULL(c.cpu_config_json);
	CHECK(!c.smt);
	CHECK(!c.track_dirty_pages);
	CHECK(!c.stats);
	CHECK(!c.debug_exit);
	vm_config_free(&c);
	vm_config_free(&c);   /* idempotent */
	vm_config_free(NULL);
}

TEST(minimal_config)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json("{\"boot-source\": {\"kernel_image_path\": \"/boot/vmlinux\"}}",
					&c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.kernel_path, "/boot/vmlinux");
	CHECK_NULL(c.initrd_path);
	CHECK_NULL(c.cmdline);
	CHECK_EQ(c.vcpus, 1);
	CHECK_EQ(c.mem_mib, 128);
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	vm_config_free(&c);
}

static const char *const full_config =
	"{\n"
	"  \"boot-source\": {\n"
	"    \"kernel_image_path\": \"/images/vmlinux.bin\",\n"
	"    \"boot_args\": \"console=ttyS0 reboot=k panic=1\",\n"
	"    \"initrd_path\": \"/images/initrd.img\"\n"
	"  },\n"
	"  \"machine-config\": {\n"
	"    \"vcpu_count\": 4,\n"
	"    \"mem_size_mib\": 1024,\n"
	"    \"smt\": true,\n"
	"    \"cpu_template\": \"T2CL\",\n"
	"    \"track_dirty_pages\": true,\n"
	"    \"huge_pages\": \"None\"\n"
	"  },\n"
	"  \"cpu-config\": {\n"
	"    \"cpuid_modifiers\": [{\"leaf\": \"0x1\", \"subleaf\": \"0x0\", \"flags\": 0,\n"
	"      \"modifiers\": [{\"register\": \"ecx\", \"bitmap\": \"0bxxxxxxxxxxxxxxxxxx0xxxxxxxxxxxxx\"}]}],\n"
	"    \"msr_modifiers\": [],\n"
	"    \"kvm_capabilities\": [\"!121\"]\n"
	"  },\n"
	"  \"drives\": [],\n"
	"  \"network-interfaces\": [],\n"
	"  \"pmem\": [],\n"
	"  \"vsock\": null,\n"
	"  \"logger\": null,\n"
	"  \"metrics\": null,\n"
	"  \"balloon\": null,\n"
	"  \"entropy\": null,\n"
	"  \"mmds-config\": null,\n"
	"  \"memory-hotplug\": null\n"
	"}\n";

TEST(full_config)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	int r = vm_config_parse_json(full_config, &c, err, sizeof(err));
	if (r)
		printf("  error: %s\n", err);
	REQUIRE_EQ(r, 0);
	CHECK_STR_EQ(c.kernel_path, "/images/vmlinux.bin");
	CHECK_STR_EQ(c.cmdline, "console=ttyS0 reboot=k panic=1");
	CHECK_STR_EQ(c.initrd_path, "/images/initrd.img");
	CHECK_EQ(c.vcpus, 4);
	CHECK_EQ(c.mem_mib, 1024);
	CHECK(c.smt);
	CHECK(c.track_dirty_pages);
	CHECK_STR_EQ(c.cpu_template, "T2CL");
	CHECK_EQ(c.pvm_workarounds, -1);
	REQUIRE(c.cpu_config_json != NULL);

	/* the stored cpu-config is the same object, and parses as a custom template */
	json_t *root = json_loads(full_config, 0, NULL);
	json_t *stored = json_loads(c.cpu_config_json, 0, NULL);
	REQUIRE(root && stored);
	CHECK(json_equal(json_object_get(root, "cpu-config"), stored));
	json_decref(root);
	json_decref(stored);
	struct cpu_template t;
	REQUIRE_EQ(cpu_template_parse_json(c.cpu_config_json, &t, err, sizeof(err)), 0);
	CHECK_EQ(t.nmods, 1);
	CHECK_EQ_HEX(t.mods[0].mask, 1u << 13);
	CHECK_EQ(t.nkvm_caps, 1);
	cpu_template_free(&t);

	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	vm_config_free(&c);
	CHECK_NULL(c.kernel_path);
	CHECK_NULL(c.cpu_config_json);
}

/* What GET /vm/config and a snapshot write (vm_config_to_json, nulls for what is unset) must
 * load again: snapshot restore and migration parse exactly this. */
static void round_trip(const char *json)
{
	struct vm_config c, back;
	char err[512] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json(json, &c, err, sizeof(err)), 0);
	json_t *out = vm_config_to_json(&c);
	REQUIRE(out != NULL);
	char *text = json_dumps(out, 0);
	REQUIRE(text != NULL);
	vm_config_init(&back);
	int r = vm_config_parse_json(text, &back, err, sizeof(err));
	if (r)
		printf("  error: %s\n  in: %s\n", err, text);
	CHECK_EQ(r, 0);
	CHECK_STR_EQ(back.kernel_path, c.kernel_path);
	CHECK_EQ(back.vcpus, c.vcpus);
	CHECK_EQ(back.mem_mib, c.mem_mib);
	CHECK_EQ(back.ndrives, c.ndrives);
	CHECK_EQ(back.nnets, c.nnets);
	CHECK_EQ(back.has_vsock, c.has_vsock);
	CHECK_EQ(back.has_entropy, c.has_entropy);
	CHECK_EQ(back.cpu_config_json != NULL, c.cpu_config_json != NULL);
	free(text);
	json_decref(out);
	vm_config_free(&back);
	vm_config_free(&c);
}

TEST(to_json_loads_again)
{
	round_trip(MACHINE(MC_OK)); /* no devices, no cpu-config: nulls everywhere */
	round_trip(full_config);
	round_trip("{" BOOT ", \"pmem\": [{\"id\": \"p0\", \"path_on_host\": \"/p.img\", \"root_device\": true, "
		   "\"read_only\": true, \"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": 10}}}]}");
	round_trip("{" BOOT ", \"machine-config\": {" MC_OK "}, \"drives\": [{\"drive_id\": \"d\", "
		   "\"path_on_host\": \"/d.img\", \"is_root_device\": true, \"format\": \"qcow2\", "
		   "\"rate_limiter\": {\"ops\": {\"size\": 10, \"refill_time\": 100}}}], "
		   "\"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}], "
		   "\"vsock\": {\"guest_cid\": 3, \"uds_path\": \"/v.sock\"}, \"entropy\": {}}");
	round_trip("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}], "
		   "\"mmds-config\": {\"version\": \"V2\", \"network_interfaces\": [\"eth0\"], "
		   "\"ipv4_address\": \"169.254.170.2\", \"imds_compat\": true}}");
	round_trip("{" BOOT ", \"balloon\": {\"amount_mib\": 64, \"deflate_on_oom\": true, "
		   "\"stats_polling_interval_s\": 2, \"free_page_reporting\": true}}");
	round_trip("{" BOOT ", \"memory-hotplug\": {\"total_size_mib\": 1024, \"slot_size_mib\": 256, "
		   "\"block_size_mib\": 4}}");
}

/* The "balloon" section (Firecracker's Balloon object; docs/balloon.md). */
TEST(balloon_section)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json("{" BOOT ", \"balloon\": {\"amount_mib\": 16, \"deflate_on_oom\": false}}",
					&c, err, sizeof(err)), 0);
	CHECK(c.has_balloon);
	CHECK_EQ(c.balloon.amount_mib, 16);
	CHECK_EQ(c.balloon.stats_polling_interval_s, 0);
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	c.balloon.amount_mib = (uint32_t)c.mem_mib + 1;
	CHECK(vm_config_validate(&c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "balloon.amount_mib");
	vm_config_free(&c);
	EXPECT_ERR("{" BOOT ", \"balloon\": {\"amount_mib\": 1}}", "balloon.deflate_on_oom: missing required field");
	EXPECT_ERR("{" BOOT ", \"balloon\": {\"amount_mib\": -1, \"deflate_on_oom\": true}}", "balloon.amount_mib");
	EXPECT_ERR("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": 1}}", "balloon.deflate_on_oom: expected a boolean");
	EXPECT_ERR("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": true, \"x\": 1}}", "balloon.x: unknown field");
	EXPECT_ERR("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": true, \"free_page_hinting\": 1}}",
		   "balloon.free_page_hinting: expected a boolean");
	EXPECT_ERR("{" BOOT ", \"balloon\": {\"amount_mib\": 1, \"deflate_on_oom\": true, \"stats_polling_interval_s\": 70000}}",
		   "balloon.stats_polling_interval_s");
}

/* Firecracker's MmdsConfig rules (vmm_config/mmds.rs, resources.rs set_mmds_config). */
TEST(mmds_config_section)
{
	const char *net = "\"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\"}]";
	char doc[512];
	struct vm_config c;
	char err[512] = "";
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": [\"eth0\"]}}", net);
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json(doc, &c, err, sizeof(err)), 0);
	CHECK(c.mmds.configured);
	CHECK_EQ(c.mmds.version, 1);
	CHECK_EQ(c.mmds.ipv4, 0xa9fea9fe);
	CHECK_EQ(c.mmds.nifaces, 1);
	CHECK(!c.mmds.imds_compat);
	vm_config_free(&c);
	EXPECT_ERR("{\"mmds-config\": {\"network_interfaces\": [\"eth0\"]}}",
		   "mmds-config: The list of network interface IDs provided contains at least one ID that does not correspond to any existing network interface.");
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": []}}", net);
	EXPECT_ERR(doc, "The list of network interface IDs that allow forwarding MMDS requests is empty.");
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"ipv4_address\": \"10.0.0.1\"}}", net);
	EXPECT_ERR(doc, "The MMDS IPv4 address is not link local.");
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"version\": \"V3\"}}", net);
	EXPECT_ERR(doc, "mmds-config.version: expected one of V1, V2");
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"x\": 1}}", net);
	EXPECT_ERR(doc, "mmds-config.x: unknown field");
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": [1]}}", net);
	EXPECT_ERR(doc, "mmds-config.network_interfaces[0]: expected a string");
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"imds_compat\": 1}}", net);
	EXPECT_ERR(doc, "mmds-config.imds_compat: expected a boolean");
	snprintf(doc, sizeof(doc), "{%s, \"mmds-config\": {\"network_interfaces\": [\"eth0\"], \"version\": null, \"ipv4_address\": null}}", net);
	EXPECT_OK(doc);
}

TEST(all_cpu_template_names)
{
	static const char *const names[] = { "C3", "T2", "T2S", "T2CL", "T2A" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char json[256];
		struct vm_config c;
		char err[512] = "";
		snprintf(json, sizeof(json), MACHINE(MC_OK ", \"cpu_template\": \"%s\""), names[i]);
		vm_config_init(&c);
		CHECK_EQ(vm_config_parse_json(json, &c, err, sizeof(err)), 0);
		CHECK_STR_EQ(c.cpu_template, names[i]);
		vm_config_free(&c);
	}
}

TEST(cpu_template_none_clears)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	c.cpu_template = strdup("C3");
	REQUIRE_EQ(vm_config_parse_json(MACHINE(MC_OK ", \"cpu_template\": \"None\""), &c, err,
					sizeof(err)), 0);
	CHECK_NULL(c.cpu_template);
	/* null, like absent, keeps what is there */
	c.cpu_template = strdup("T2");
	REQUIRE_EQ(vm_config_parse_json(MACHINE(MC_OK ", \"cpu_template\": null"), &c, err,
					sizeof(err)), 0);
	CHECK_STR_EQ(c.cpu_template, "T2");
	vm_config_free(&c);
}

TEST(absent_fields_keep_existing_values)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	c.cmdline = strdup("console=hvc0");
	c.initrd_path = strdup("/cli/initrd");
	c.vcpus = 3;
	c.mem_mib = 512;
	c.smt = true;
	c.stats = true;
	c.debug_exit = true;
	c.pvm_workarounds = 1;
	c.cpu_config_path = strdup("/cli/tpl.json");
	REQUIRE_EQ(vm_config_parse_json("{" BOOT "}", &c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.kernel_path, "/k");
	CHECK_STR_EQ(c.cmdline, "console=hvc0");
	CHECK_STR_EQ(c.initrd_path, "/cli/initrd");
	CHECK_EQ(c.vcpus, 3);
	CHECK_EQ(c.mem_mib, 512);
	CHECK(c.smt);
	CHECK(c.stats);
	CHECK(c.debug_exit);
	CHECK_EQ(c.pvm_workarounds, 1);
	CHECK_STR_EQ(c.cpu_config_path, "/cli/tpl.json");
	CHECK_NULL(c.cpu_config_json);

	/* given fields replace; smt absent keeps true, so vcpus must be even */
	REQUIRE_EQ(vm_config_parse_json("{\"boot-source\": {\"kernel_image_path\": \"/k2\", "
					"\"boot_args\": \"quiet\", \"initrd_path\": null},"
					"\"machine-config\": {\"vcpu_count\": 8, \"mem_size_mib\": 64}}",
					&c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.kernel_path, "/k2");
	CHECK_STR_EQ(c.cmdline, "quiet");
	CHECK_STR_EQ(c.initrd_path, "/cli/initrd");
	CHECK_EQ(c.vcpus, 8);
	CHECK_EQ(c.mem_mib, 64);
	CHECK(c.smt);
	CHECK_EQ(vm_config_parse_json(MACHINE("\"vcpu_count\": 3, \"mem_size_mib\": 64"), &c, err,
				      sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "when smt is enabled");
	vm_config_free(&c);
}

TEST(error_leaves_config_unchanged)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	c.kernel_path = strdup("/old");
	c.cpu_template = strdup("T2");
	/* good boot-source and cpu-config, then a bad machine-config */
	CHECK_EQ(vm_config_parse_json("{\"boot-source\": {\"kernel_image_path\": \"/new\","
				      " \"boot_args\": \"x\"}, \"cpu-config\": {},"
				      " \"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 64,"
				      " \"cpu_template\": \"C3\"}}", &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "machine-config.vcpu_count");
	CHECK_STR_EQ(c.kernel_path, "/old");
	CHECK_NULL(c.cmdline);
	CHECK_STR_EQ(c.cpu_template, "T2");
	CHECK_NULL(c.cpu_config_json);
	CHECK_EQ(c.vcpus, 1);
	CHECK_EQ(c.mem_mib, 128);
	vm_config_free(&c);
}

TEST(unknown_top_level_key)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{" BOOT ", \"xyz\": 1}", &c, err, sizeof(err)), -EINVAL);
	CHECK_STR_EQ(err, "unknown field 'xyz'");
	vm_config_free(&c);
	EXPECT_ERR("{\"boot_source\": {}}", "unknown field 'boot_source'");
	EXPECT_ERR("{\"Boot-Source\": {}}", "unknown field 'Boot-Source'");
	EXPECT_ERR("{\"\": 1}", "unknown field ''");
}

TEST(later_sections_not_supported_yet)
{
	EXPECT_ERR("{" BOOT ", \"drives\": [{\"drive_id\": \"rootfs\"}]}", "drives[0].path_on_host: missing required field");
	EXPECT_ERR("{" BOOT ", \"network-interfaces\": [{}]}", "network-interfaces[0].iface_id: missing required field");
	EXPECT_ERR("{" BOOT ", \"pmem\": [{}]}", "pmem[0].id: missing required field");
	EXPECT_ERR("{" BOOT ", \"vsock\": {\"guest_cid\": 3}}", "vsock.uds_path: missing required field");
	EXPECT_ERR("{" BOOT ", \"entropy\": []}", "entropy: expected an object");
	EXPECT_ERR("{" BOOT ", \"logger\": {\"level\": \"Info\"}}", "logger: not supported yet");
	EXPECT_ERR("{" BOOT ", \"metrics\": {}}", "metrics: not supported yet");
	EXPECT_ERR("{" BOOT ", \"balloon\": {}}", "balloon.amount_mib: missing required field");
	EXPECT_ERR("{" BOOT ", \"mmds-config\": {}}", "mmds-config.network_interfaces: missing required field");
	EXPECT_ERR("{" BOOT ", \"memory-hotplug\": {}}", "memory-hotplug.total_size_mib: missing required field");
	EXPECT_ERR("{" BOOT ", \"drives\": {}}", "drives: expected an array");
	EXPECT_ERR("{" BOOT ", \"drives\": \"\"}", "drives: expected an array");
	EXPECT_ERR("{" BOOT ", \"vsock\": []}", "vsock: expected an object");
	EXPECT_ERR("{" BOOT ", \"logger\": 0}", "logger: expected an object");
	EXPECT_OK("{" BOOT ", \"drives\": [], \"network-interfaces\": null, \"vsock\": null}");
}

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

TEST(validate)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "kernel_image_path");
	c.kernel_path = strdup("");
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	free(c.kernel_path);
	c.kernel_path = strdup("/k");
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	c.vcpus = 0;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "vcpu_count");
	c.vcpus = VM_MAX_VCPUS + 1;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	c.vcpus = VM_MAX_VCPUS;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	c.vcpus = 5;
	c.smt = true;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "smt");
	c.smt = false;
	c.mem_mib = VM_MIN_MEM_MIB - 1;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "mem_size_mib");
	c.mem_mib = (uint64_t)VM_MAX_MEM_MIB + 1;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	c.mem_mib = VM_MIN_MEM_MIB;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	CHECK_EQ(vm_config_validate(&c, NULL, 0), 0);
	c.vcpus = 0;
	CHECK_EQ(vm_config_validate(&c, NULL, 0), -EINVAL);
	vm_config_free(&c);
}

static char *write_temp(const char *content, size_t len)
{
	char *path = strdup("/tmp/petrel-test-cfg-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len)
		abort();
	close(fd);
	return path;
}

TEST(load_file)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	char *path = write_temp(full_config, strlen(full_config));
	REQUIRE_EQ(vm_config_load_file(path, &c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.kernel_path, "/images/vmlinux.bin");
	CHECK_EQ(c.vcpus, 4);
	unlink(path);
	free(path);

	static const char bad_type[] = "{\"machine-config\": {\"vcpu_count\": \"1\"}}";
	path = write_temp(bad_type, strlen(bad_type));
	CHECK_EQ(vm_config_load_file(path, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, "machine-config.vcpu_count: expected an integer");
	unlink(path);
	free(path);

	path = write_temp("{}\0{\"xyz\": 1}", 13);
	CHECK_EQ(vm_config_load_file(path, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "NUL");
	unlink(path);
	free(path);

	path = write_temp("", 0);
	CHECK_EQ(vm_config_load_file(path, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "invalid JSON");
	unlink(path);
	free(path);

	CHECK_EQ(vm_config_load_file("/nonexistent/vm.json", &c, err, sizeof(err)), -ENOENT);
	CHECK_CONTAINS(err, "/nonexistent/vm.json");
	CHECK_CONTAINS(err, strerror(ENOENT));
	CHECK(vm_config_load_file("/tmp", &c, err, sizeof(err)) < 0);
	CHECK_CONTAINS(err, "/tmp");

	/* failures left the first file's values alone */
	CHECK_STR_EQ(c.kernel_path, "/images/vmlinux.bin");
	CHECK_EQ(c.vcpus, 4);
	vm_config_free(&c);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
