/* Unit tests for src/config/vm_config.c: validating a parsed definition and loading one from a
 * file. */
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

TEST(load_file)
{
	struct vm_config c;
	char err[512] = "";
	vm_config_init(&c);
	char *path = write_temp(full_config, strlen(full_config));
	REQUIRE_EQ(vm_config_load_file(path, &c, err, sizeof(err)), 0);
	CHECK_STR_EQ(c.kernel_path, "/images/vmlinux.bin");
	CHECK_EQ(c.vcpus, 4);
	remove_temp(path);

	static const char bad_type[] = "{\"machine-config\": {\"vcpu_count\": \"1\"}}";
	path = write_temp(bad_type, strlen(bad_type));
	CHECK_EQ(vm_config_load_file(path, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, path);
	CHECK_CONTAINS(err, "machine-config.vcpu_count: expected an integer");
	remove_temp(path);

	path = write_temp("{}\0{\"xyz\": 1}", 13);
	CHECK_EQ(vm_config_load_file(path, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "NUL");
	remove_temp(path);

	path = write_temp("", 0);
	CHECK_EQ(vm_config_load_file(path, &c, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "invalid JSON");
	remove_temp(path);

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
