/* libFuzzer target: the bodies of petreld's POST /vms/NAME/clone (vmclone_parse),
 * POST /vms/NAME/restore (vmrestore_parse) and POST /vms/NAME/backup (named_consistency_parse), untrusted text from petreld's API. Each accepts
 * or refuses with -EINVAL and a message; what it accepts keeps its invariants: names that
 * make valid VM names, a count in range, tap patterns that fit an interface name. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "manager/verbs.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)fuzz_dup(data, size);
	char err[512] = "", backup[VM_NAME_MAX + 1];
	struct clone_req q;
	/* the longest VM name: the default prefix "<vm>-" must still leave room for a number */
	char vm[VM_NAME_MAX + 1];
	memset(vm, 'v', VM_NAME_MAX);
	vm[VM_NAME_MAX] = '\0';
	int r = vmclone_parse(text, size, size & 1 ? "web" : vm, &q, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		char name[VM_NAME_MAX + 16];
		snprintf(name, sizeof(name), "%s%u", q.prefix, q.count - 1);
		FUZZ_CHECK(q.count >= 1 && q.count <= 1000);
		FUZZ_CHECK(mgr_vm_name_ok(q.snap));
		FUZZ_CHECK(strlen(name) <= VM_NAME_MAX && mgr_vm_name_ok(name));
		const char *k;
		json_t *v;
		json_object_foreach(q.net, k, v) {
			const char *tap = json_string_value(v);
			FUZZ_CHECK(tap && strlen(tap) <= 15);
		}
		json_decref(q.net);
	} else {
		FUZZ_CHECK(err[0] != 0);
	}
	err[0] = 0;
	r = vmrestore_parse(text, size, backup, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(r != 0 || mgr_vm_name_ok(backup));
	FUZZ_CHECK(r == 0 || err[0] != 0);
	char consistency[12] = "";
	err[0] = 0;
	r = named_consistency_parse(text, size, backup, consistency, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(r != 0 || (mgr_vm_name_ok(backup) && (!consistency[0] || !strcmp(consistency, "auto") ||
							   !strcmp(consistency, "filesystem") || !strcmp(consistency, "crash"))));
	FUZZ_CHECK(r == 0 || err[0] != 0);
	free(text);
	return 0;
}
