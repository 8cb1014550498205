/* Unit tests for src/config/vm_config.c: the Firecracker --config-file format, its sections,
 * what absent and null fields keep, and the document written back (GET /vm/config, snapshots)
 * loading again. */
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

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
