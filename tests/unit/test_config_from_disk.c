/* Unit tests for a VM booted from its disk's kernel (boot-source.from_disk, src/config/vm_config.c):
 * what it excludes, the drive it boots from, and its JSON round trip (GET /vm/config). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config/vm_config.h"
#include "unit.h"
#include "config_json.h"

#define FD "\"boot-source\": {\"from_disk\": true}"
#define DRIVE(id, root) "{\"drive_id\": \"" id "\", \"path_on_host\": \"/" id "\", \"is_root_device\": " root "}"

TEST(from_disk_parse)
{
	EXPECT_OK("{" FD "}");
	EXPECT_OK("{\"boot-source\": {\"from_disk\": true, \"boot_args\": \"quiet\", \"initrd_path\": null}}");
	EXPECT_ERR("{\"boot-source\": {\"from_disk\": 1}}", "boot-source.from_disk: expected a boolean");
	EXPECT_ERR("{\"boot-source\": {\"from_disk\": true, \"kernel_image_path\": \"/k\"}}",
		   "boot-source: from_disk and kernel_image_path exclude each other");
	EXPECT_ERR("{\"boot-source\": {\"from_disk\": true, \"initrd_path\": \"/i\"}}",
		   "from_disk and initrd_path exclude each other");
	EXPECT_ERR("{\"boot-source\": {\"from_disk\": true, \"firmware\": \"seabios\"}}",
		   "from_disk and firmware exclude each other");
	EXPECT_ERR("{\"boot-source\": {\"from_disk\": false}}", "kernel_image_path: missing required field");
	EXPECT_OK("{\"boot-source\": {\"from_disk\": false, \"kernel_image_path\": \"/k\"}}");
}

TEST(from_disk_validate)
{
	char msg[256];
	CHECK_EQ(parse_and_validate("{" FD "}", msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "boot-source.from_disk: the VM has no drive to boot from");
	CHECK_EQ(parse_and_validate("{" FD ", \"drives\": [" DRIVE("a", "false") "]}", msg, sizeof(msg)), 0);
	/* a kernel the CLI gave beside a document's from_disk */
	struct vm_config c;
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{" FD ", \"drives\": [" DRIVE("a", "false") "]}", &c, msg, sizeof(msg)), 0);
	c.initrd_path = strdup("/i");
	CHECK_EQ(vm_config_validate(&c, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "from_disk and initrd_path exclude each other");
	vm_config_free(&c);
}

TEST(from_disk_boot_drive)
{
	struct vm_config c;
	char msg[256];
	vm_config_init(&c);
	CHECK_EQ(vm_config_boot_drive(&c), -1);
	CHECK_EQ(vm_config_parse_json("{" FD ", \"drives\": [" DRIVE("a", "false") ", " DRIVE("b", "true") "]}", &c,
				      msg, sizeof(msg)), 0);
	CHECK_EQ(vm_config_boot_drive(&c), 1); /* the root device */
	c.drives[1].is_root_device = false;
	CHECK_EQ(vm_config_boot_drive(&c), 0); /* else the first */
	vm_config_free(&c);
}

TEST(from_disk_round_trip)
{
	struct vm_config c;
	char msg[256];
	vm_config_init(&c);
	CHECK_EQ(vm_config_parse_json("{\"boot-source\": {\"from_disk\": true, \"boot_args\": \"x=1\"}, \"drives\": ["
				      DRIVE("a", "true") "]}", &c, msg, sizeof(msg)), 0);
	CHECK(c.from_disk);
	CHECK(c.kernel_path == NULL);
	json_t *o = vm_config_to_json(&c);
	json_t *bs = json_object_get(o, "boot-source");
	CHECK(json_is_true(json_object_get(bs, "from_disk")));
	CHECK(json_object_get(bs, "kernel_image_path") == NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(bs, "boot_args")), "x=1");
	char *text = json_dumps(o, 0);
	json_decref(o);
	struct vm_config back;
	vm_config_init(&back);
	CHECK_EQ(vm_config_parse_json(text, &back, msg, sizeof(msg)), 0);
	CHECK(back.from_disk);
	CHECK_STR_EQ(back.cmdline, "x=1");
	CHECK_EQ(vm_config_validate(&back, msg, sizeof(msg)), 0);
	free(text);
	vm_config_free(&back);
	/* a kernel's document has no from_disk; a later boot-source replaces it */
	CHECK_EQ(vm_config_parse_json("{\"boot-source\": {\"kernel_image_path\": \"/k\"}}", &c, msg, sizeof(msg)), 0);
	CHECK(!c.from_disk);
	o = vm_config_to_json(&c);
	CHECK(json_object_get(json_object_get(o, "boot-source"), "from_disk") == NULL);
	json_decref(o);
	vm_config_free(&c);
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
