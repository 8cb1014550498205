/* Unit tests for a firmware-booted VM's definition (src/config/firmware_config.c, boot-source.firmware,
 * "ovmf" and firmware_vars_path, drives' boot_index, machine-config.uuid) and the firmware image
 * checks (src/boot/firmware.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "boot/firmware.h"
#include "config/firmware_config.h"
#include "config/vm_config.h"
#include "unit.h"
#include "config_json.h"

#define FW "\"boot-source\": {\"firmware\": \"seabios\"}"
#define DRIVE(extra) "\"drives\": [{\"drive_id\": \"d\", \"path_on_host\": \"/d\", \"is_root_device\": false" extra "}]"

TEST(firmware_boot_source)
{
	EXPECT_OK("{" FW "}");
	EXPECT_ERR("{\"boot-source\": {\"firmware\": 3}}", "boot-source.firmware: expected a string");
	EXPECT_ERR("{\"boot-source\": {\"firmware\": \"\"}}", "boot-source.firmware: must not be empty");
	EXPECT_ERR("{\"boot-source\": {}}", "missing required field");
	char msg[256];
	CHECK_EQ(parse_and_validate("{" FW "}", msg, sizeof(msg)), 0);
	CHECK_EQ(parse_and_validate("{\"boot-source\": {\"firmware\": \"seabios\", \"kernel_image_path\": \"/k\"}}", msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "go with no firmware");
	CHECK_EQ(parse_and_validate("{\"boot-source\": {\"firmware\": \"seabios\", \"boot_args\": \"x\"}}", msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "go with no firmware");
	CHECK_EQ(parse_and_validate("{\"boot-source\": {\"boot_args\": \"x\", \"kernel_image_path\": null}}", msg, sizeof(msg)), -EINVAL);
	CHECK_STR_EQ(firmware_path("seabios"), FIRMWARE_SEABIOS_PATH);
	CHECK_STR_EQ(firmware_path("/x/y.bin"), "/x/y.bin");
}

TEST(firmware_round_trip)
{
	struct vm_config c;
	char msg[256];
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{" FW ", " DRIVE(", \"boot_index\": 2") "}", &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.firmware, "seabios");
	CHECK(c.kernel_path == NULL);
	CHECK(c.drives[0].has_boot_index);
	CHECK_EQ(c.drives[0].boot_index, 2);
	json_t *o = vm_config_to_json(&c);
	json_t *bs = json_object_get(o, "boot-source");
	CHECK_STR_EQ(json_string_value(json_object_get(bs, "firmware")), "seabios");
	CHECK(json_object_get(bs, "kernel_image_path") == NULL); /* Firecracker's field only for a kernel */
	json_t *d = json_array_get(json_object_get(o, "drives"), 0);
	CHECK_EQ(json_integer_value(json_object_get(d, "boot_index")), 2);
	char *text = json_dumps(o, 0);
	json_decref(o);
	struct vm_config back;
	vm_config_init(&back);
	CHECK_EQ(vm_config_parse_json(text, &back, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(back.firmware, "seabios");
	CHECK_EQ(back.drives[0].boot_index, 2);
	free(text);
	vm_config_free(&back);
	vm_config_free(&c);
	/* a kernel's document has no firmware field and no boot_index */
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{" BOOT ", " DRIVE("") "}", &c, msg, sizeof(msg)), 0);
	o = vm_config_to_json(&c);
	CHECK(json_object_get(json_object_get(o, "boot-source"), "firmware") == NULL);
	CHECK(json_object_get(json_array_get(json_object_get(o, "drives"), 0), "boot_index") == NULL);
	json_decref(o);
	vm_config_free(&c);
}

TEST(boot_index_errors)
{
	EXPECT_ERR("{" FW ", " DRIVE(", \"boot_index\": -1") "}", "boot_index");
	EXPECT_ERR("{" FW ", " DRIVE(", \"boot_index\": 256") "}", "boot_index");
	EXPECT_ERR("{" FW ", " DRIVE(", \"boot_index\": \"1\"") "}", "boot_index");
	struct drive_config d;
	char msg[256];
	CHECK_EQ(drive_config_from_cli("/d,boot=3", 0, &d, msg, sizeof(msg)), 0);
	CHECK(d.has_boot_index);
	CHECK_EQ(d.boot_index, 3);
	drive_config_free(&d);
	CHECK_EQ(drive_config_from_cli("/d,boot=x", 0, &d, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "boot must be 0 to 255");
	CHECK_EQ(drive_config_from_cli("/d,boot=", 0, &d, msg, sizeof(msg)), -EINVAL);
}

TEST(firmware_refuses_mmio)
{
	struct vm_config c;
	char msg[256];
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{" FW ", " DRIVE("") "}", &c, msg, sizeof(msg)), 0);
	c.drives[0].transport = VIRTIO_TRANSPORT_MMIO;
	CHECK_EQ(vm_config_validate(&c, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "drive d: a virtio-mmio device cannot be found by a firmware");
	c.drives[0].transport = VIRTIO_TRANSPORT_DEFAULT;
	c.virtio_transport = VIRTIO_TRANSPORT_MMIO;
	CHECK_EQ(vm_config_validate(&c, msg, sizeof(msg)), -EINVAL);
	c.virtio_transport = VIRTIO_TRANSPORT_PCI;
	CHECK_EQ(vm_config_validate(&c, msg, sizeof(msg)), 0);
	vm_config_free(&c);
}

TEST(uuid)
{
	uint8_t u[16];
	char s[VM_UUID_STR];
	CHECK_EQ(vm_uuid_parse("0123abcd-4567-89ef-ABCD-0123456789ab", u), 0);
	CHECK_EQ(u[0], 0x01);
	CHECK_EQ(u[15], 0xab);
	vm_uuid_format(u, s);
	CHECK_STR_EQ(s, "0123abcd-4567-89ef-abcd-0123456789ab");
	CHECK_EQ(vm_uuid_parse("0123abcd-4567-89ef-ABCD-0123456789a", u), -EINVAL);
	CHECK_EQ(vm_uuid_parse("0123abcd-4567-89ef-ABCD_0123456789ab", u), -EINVAL);
	CHECK_EQ(vm_uuid_parse("0123abcg-4567-89ef-ABCD-0123456789ab", u), -EINVAL);
	EXPECT_ERR(MACHINE(MC_OK ", \"uuid\": \"nope\""), "machine-config.uuid: expected a UUID");
	struct vm_config c;
	char msg[256];
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json(MACHINE(MC_OK ", \"uuid\": \"0123abcd-4567-89ef-abcd-0123456789ab\""), &c, msg, sizeof(msg)), 0);
	CHECK(c.has_uuid);
	json_t *mc = vm_machine_config_to_json(&c);
	CHECK_STR_EQ(json_string_value(json_object_get(mc, "uuid")), "0123abcd-4567-89ef-abcd-0123456789ab");
	json_decref(mc);
	vm_config_free(&c);
	vm_config_init(&c);
	CHECK_EQ(vm_config_ensure_uuid(&c), 0);
	CHECK(c.has_uuid);
	CHECK_EQ(c.uuid[6] >> 4, 4);
	CHECK_EQ(c.uuid[8] >> 6, 2);
	mc = vm_machine_config_to_json(&c);
	CHECK(json_object_get(mc, "uuid") != NULL);
	json_decref(mc);
	vm_config_free(&c);
}

/* machine-config.smbios_serial (petrel's): the serial number SMBIOS type 1 shows (cloud-init's
 * "ds=nocloud"), shown back only when set, refused unless 1 to 64 printable ASCII characters. */
TEST(smbios_serial)
{
	struct vm_config c;
	char msg[256];
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json(MACHINE(MC_OK ", \"smbios_serial\": \"ds=nocloud\""), &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.smbios_serial, "ds=nocloud");
	json_t *mc = vm_machine_config_to_json(&c);
	CHECK_STR_EQ(json_string_value(json_object_get(mc, "smbios_serial")), "ds=nocloud");
	json_decref(mc);
	/* machine-config replaces the whole section: none given clears it */
	CHECK_EQ(vm_config_parse_json(MACHINE(MC_OK), &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.smbios_serial, "");
	mc = vm_machine_config_to_json(&c);
	CHECK(json_object_get(mc, "smbios_serial") == NULL);
	json_decref(mc);
	vm_config_free(&c);
	char long_serial[256];
	snprintf(long_serial, sizeof(long_serial), MACHINE(MC_OK ", \"smbios_serial\": \"%065d\""), 0);
	EXPECT_ERR(long_serial, "machine-config.smbios_serial: expected 1 to 64 printable ASCII");
	EXPECT_ERR(MACHINE(MC_OK ", \"smbios_serial\": \"\""), "machine-config.smbios_serial");
	EXPECT_ERR(MACHINE(MC_OK ", \"smbios_serial\": \"a\\nb\""), "machine-config.smbios_serial");
	EXPECT_ERR(MACHINE(MC_OK ", \"smbios_serial\": \"\u00e9\""), "machine-config.smbios_serial");
	EXPECT_ERR(MACHINE(MC_OK ", \"smbios_serial\": 7"), "machine-config.smbios_serial");
	EXPECT_OK(MACHINE(MC_OK ", \"smbios_serial\": null"));
}

TEST(firmware_image_checks)
{
	size_t len = 128 << 10;
	uint8_t *img = calloc(1, len);
	char msg[256];
	CHECK_EQ(firmware_check(img, len, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "not a PC firmware image");
	img[len - 16] = 0xea; /* SeaBIOS: ljmp */
	CHECK_EQ(firmware_check(img, len, msg, sizeof(msg)), 0);
	img[len - 16] = 0x90; img[len - 15] = 0x90; img[len - 14] = 0xe9; /* OVMF: nop; nop; jmp */
	CHECK_EQ(firmware_check(img, len, msg, sizeof(msg)), 0);
	CHECK_EQ(firmware_check(img, len - 4096, msg, sizeof(msg)), -EINVAL); /* reset vector elsewhere */
	CHECK_EQ(firmware_check(img, len - 512, msg, sizeof(msg)), -EINVAL); /* not what the ROM maps */
	CHECK_EQ(firmware_check(img, 64 << 10, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "between 128 KiB and 16 MiB");
	CHECK_EQ(firmware_check(img, len - 1, msg, sizeof(msg)), -EINVAL);
	free(img);
	uint8_t *out = NULL;
	size_t olen = 0;
	CHECK_EQ(firmware_read("/nonexistent/bios.bin", &out, &olen, msg, sizeof(msg)), -ENOENT);
	CHECK_CONTAINS(msg, "cannot read firmware '/nonexistent/bios.bin'");
	CHECK_EQ(firmware_read("/tmp", &out, &olen, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "firmware '/tmp' is not a file");
	if (firmware_read("seabios", &out, &olen, msg, sizeof(msg)) == 0) { /* Debian's, when installed */
		CHECK_EQ(olen, 256 << 10);
		free(out);
	}
}

TEST(ovmf_definition)
{
	char msg[256];
	CHECK_EQ(parse_and_validate("{\"boot-source\": {\"firmware\": \"ovmf\"}}", msg, sizeof(msg)), 0);
	CHECK_EQ(parse_and_validate("{\"boot-source\": {\"firmware\": \"ovmf\", \"firmware_vars_path\": \"/v/a.vars\"}}", msg,
			  sizeof(msg)), 0);
	CHECK_EQ(parse_and_validate("{\"boot-source\": {\"firmware\": \"seabios\", \"firmware_vars_path\": \"/v/a.vars\"}}", msg,
			  sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "boot-source.firmware_vars_path: SeaBIOS keeps no variables");
	CHECK_EQ(parse_and_validate("{\"boot-source\": {\"kernel_image_path\": \"/k\", \"firmware_vars_path\": \"/v/a.vars\"}}", msg,
			  sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "boot-source.firmware_vars_path: goes with a firmware");
	EXPECT_ERR("{\"boot-source\": {\"firmware\": \"ovmf\", \"firmware_vars_path\": 1}}",
		   "boot-source.firmware_vars_path: expected a string");
	CHECK_STR_EQ(firmware_path("ovmf"), FIRMWARE_OVMF_CODE_PATH);

	struct vm_config c;
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{\"boot-source\": {\"firmware\": \"/x/code.fd\", \"firmware_vars_path\": \"/v/a\"}}",
				      &c, msg, sizeof(msg)), 0);
	CHECK_STR_EQ(c.firmware_vars, "/v/a");
	CHECK(firmware_is_uefi(&c)); /* a path with a vars file: the UEFI layout */
	json_t *o = vm_config_to_json(&c);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(o, "boot-source"), "firmware_vars_path")), "/v/a");
	json_decref(o);
	vm_config_free(&c);
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{\"boot-source\": {\"firmware\": \"seabios\"}}", &c, msg, sizeof(msg)), 0);
	CHECK(!firmware_is_uefi(&c));
	o = vm_config_to_json(&c);
	CHECK(json_object_get(json_object_get(o, "boot-source"), "firmware_vars_path") == NULL); /* only when set */
	json_decref(o);
	vm_config_free(&c);
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{\"boot-source\": {\"firmware\": \"ovmf\"}}", &c, msg, sizeof(msg)), 0);
	CHECK(firmware_is_uefi(&c));
	vm_config_free(&c);
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
