/* libFuzzer target: the bodies of petreld's POST /images (image_import_parse) and
 * POST /vms/from-image (image_vm_parse), untrusted text from petreld's API. Each accepts or
 * refuses with -EINVAL and a message; what it accepts keeps its invariants: names that make
 * valid VM names (NAME-N included, for the whole count), a count in range, a tap that fits an
 * interface name once its number is in, an absolute path, a password hash that is one. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "manager/images.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)fuzz_dup(data, size);
	char err[512] = "";
	struct image_import imp;
	int r = image_import_parse(text, size, &imp, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(r == 0 || err[0] != 0);
	if (r == 0)
		FUZZ_CHECK(mgr_vm_name_ok(imp.name) && imp.path[0] == '/' && printable(imp.path));
	err[0] = 0;
	struct image_vm_req q;
	r = image_vm_parse(text, size, &q, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(q.count >= 1 && q.count <= FROM_IMAGE_MAX);
		FUZZ_CHECK(mgr_vm_name_ok(q.image) && q.vcpus >= 1 && q.memory_mib >= 1);
		for (unsigned i = 0; i < q.count; i++) {
			char name[VM_NAME_MAX + 1], tap[FROM_IMAGE_TAP_MAX + 1];
			image_vm_name(&q, i, name);
			FUZZ_CHECK(mgr_vm_name_ok(name));
			image_vm_tap(&q, i, tap);
			FUZZ_CHECK(strlen(tap) <= FROM_IMAGE_TAP_MAX && (!q.tap[0]) == (!tap[0]));
		}
		FUZZ_CHECK(!(q.network[0] && q.tap[0]));
		FUZZ_CHECK(!q.passwd[0] || (q.passwd[0] == '$' && !strchr(q.passwd, ':') && printable(q.passwd)));
		FUZZ_CHECK(!(q.passwd[0] && q.password[0]));
		FUZZ_CHECK(!(q.keys || q.passwd[0] || q.password[0]) || q.user[0]);
		FUZZ_CHECK(q.boot <= IMAGE_BOOT_OVMF);
		size_t i;
		json_t *k;
		json_array_foreach(q.keys, i, k)
			FUZZ_CHECK(json_is_string(k) && printable(json_string_value(k)));
		FUZZ_CHECK(!q.cloud_init || json_is_object(q.cloud_init));
		image_vm_req_free(&q);
	} else {
		FUZZ_CHECK(err[0] != 0 && !q.keys && !q.cloud_init);
	}
	free(text);
	return 0;
}
