/* Unit tests for vCPU hot-plug in the VM definition: the "vcpu-hotplug" section and the body of
 * PATCH /hotplug/vcpu. */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "config/vm_config.h"
#include "unit.h"
#include "vm/vm_internal.h"

/* ---- "vcpu-hotplug" in the VM definition ---- */

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"/k\"}"

TEST(config_section)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	REQUIRE_EQ(vm_config_parse_json("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 128}, "
					"\"vcpu-hotplug\": {\"max_vcpu_count\": 8}}", &c, err, sizeof(err)), 0);
	CHECK(c.has_vcpu_hotplug);
	CHECK_EQ(c.vcpu_hotplug.max_vcpu_count, 8);
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), 0);
	CHECK_EQ(vcpu_hotplug_possible(&c), 8);
	/* GET /vm/config carries it and loads again */
	json_t *o = vm_config_to_json(&c);
	REQUIRE(o != NULL);
	CHECK_EQ(json_integer_value(json_object_get(json_object_get(o, "vcpu-hotplug"), "max_vcpu_count")), 8);
	char *text = json_dumps(o, 0);
	struct vm_config d;
	vm_config_init(&d);
	CHECK_EQ(vm_config_parse_json(text, &d, err, sizeof(err)), 0);
	CHECK(d.has_vcpu_hotplug && d.vcpu_hotplug.max_vcpu_count == 8);
	free(text);
	json_decref(o);
	vm_config_free(&d);
	/* fewer than the boot vCPUs, or odd with SMT: refused at validation */
	c.vcpus = 9;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "less than machine-config's vcpu_count 9");
	c.vcpus = 2;
	c.smt = true;
	c.vcpu_hotplug.max_vcpu_count = 7;
	CHECK_EQ(vm_config_validate(&c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "smt");
	vm_config_free(&c);
	/* without the section: the boot vCPUs, and no key in the document */
	vm_config_init(&c);
	o = vm_config_to_json(&c);
	CHECK(json_object_get(o, "vcpu-hotplug") == NULL);
	CHECK_EQ(vcpu_hotplug_possible(&c), 1);
	json_decref(o);
	vm_config_free(&c);

	static const struct { const char *json, *err; } bad[] = {
		{ "{" BOOT ", \"vcpu-hotplug\": {}}", "vcpu-hotplug.max_vcpu_count: missing required field" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": 0}}", "vcpu-hotplug.max_vcpu_count: must be between 1 and 64" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": 65}}", "must be between 1 and 64" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": \"4\"}}", "expected an integer" },
		{ "{" BOOT ", \"vcpu-hotplug\": {\"max_vcpu_count\": 4, \"x\": 1}}", "vcpu-hotplug.x: unknown field" },
		{ "{" BOOT ", \"vcpu-hotplug\": [4]}", "vcpu-hotplug: expected an object" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		vm_config_init(&c);
		err[0] = 0;
		CHECK_EQ(vm_config_parse_json(bad[i].json, &c, err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, bad[i].err);
		CHECK(!c.has_vcpu_hotplug);
		vm_config_free(&c);
	}
	/* null means absent, as for Firecracker's optional sections */
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{" BOOT ", \"vcpu-hotplug\": null}", &c, err, sizeof(err)), 0);
	CHECK(!c.has_vcpu_hotplug);
	vm_config_free(&c);
}

TEST(patch_body)
{
	unsigned n = 0;
	char err[256] = "";
	json_t *b = json_loads("{\"vcpu_count\": 3}", 0, NULL);
	CHECK_EQ(hotplug_vcpu_update_from_json(b, &n, err, sizeof(err)), 0);
	CHECK_EQ(n, 3);
	json_decref(b);
	static const char *const bad[] = { "{}", "{\"vcpu_count\": 0}", "{\"vcpu_count\": 65}", "{\"vcpu_count\": -1}",
					   "{\"vcpu_count\": 1.5}", "{\"vcpu_count\": 2, \"max_vcpu_count\": 4}", "[]" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		REQUIRE(b != NULL);
		CHECK_EQ(hotplug_vcpu_update_from_json(b, &n, err, sizeof(err)), -EINVAL);
		json_decref(b);
	}
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
