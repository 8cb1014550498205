/* libFuzzer target: petreld's new parsers of untrusted text (src/manager): a VM definition
 * (POST /vms, or a file in the definitions directory, edited by hand) through def_parse, and
 * the partitioning body of PUT /vms/NAME/resources through partition_parse. Each accepts or
 * refuses with -EINVAL and a message; what it accepts keeps its invariants. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "manager/definition.h"
#include "manager/partition.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)fuzz_dup(data, size);
	char err[512];
	err[0] = 0;
	struct vm_def def;
	int r = def_parse(text, size, &def, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(mgr_vm_name_ok(def.name));
		FUZZ_CHECK(strlen(def.uuid) == 36);
		FUZZ_CHECK(def.res.cpu_weight <= 10000);
		FUZZ_CHECK(!def.res.memory_limit_mib || def.res.memory_limit_mib >= 32);
		FUZZ_CHECK(json_is_object(json_object_get(def.doc, "petrel")));
		def_free(&def);
	} else {
		FUZZ_CHECK(err[0] != 0);
	}
	json_t *o = json_loadb(text, size, JSON_REJECT_DUPLICATES, NULL);
	if (o) {
		struct vm_resources res = { 0 };
		r = partition_parse(o, &res, err, sizeof(err));
		FUZZ_CHECK(r == 0 || r == -EINVAL);
		if (r == 0) {
			FUZZ_CHECK(res.cpu_weight <= 10000);
			FUZZ_CHECK(memchr(res.cpuset, 0, sizeof(res.cpuset)) != NULL);
			json_decref(partition_to_json(&res));
		}
		json_decref(o);
	}
	free(text);
	return 0;
}
