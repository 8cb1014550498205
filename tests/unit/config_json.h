/* The VM-definition tests (test_config*.c): parse a document and expect an error or success,
 * the pieces of small documents, and a full Firecracker --config-file document. */
#ifndef PETREL_TESTS_UNIT_CONFIG_JSON_H
#define PETREL_TESTS_UNIT_CONFIG_JSON_H

#include <errno.h>
#include <stdio.h>

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

/* Parse `json` into a fresh config and validate it (vm_config_validate): 0 or its error. */
static inline int parse_and_validate(const char *json, char *msg, size_t len)
{
	struct vm_config c;
	vm_config_init(&c);
	int r = vm_config_parse_json(json, &c, msg, len);
	if (r == 0)
		r = vm_config_validate(&c, msg, len);
	vm_config_free(&c);
	return r;
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

#endif
