/* libFuzzer target: backup jobs' definitions (bjob_def_parse: src/manager/backup_jobdef.c) and
 * their retention object (bjob_retention_parse), untrusted text from petreld's API and its
 * backup jobs directory; a retention that parses is applied (backup_prune) to backup times taken
 * from the input. A definition is accepted or refused with -EINVAL and a message; an accepted
 * one has a valid id and VM names, an absolute target; pruning keeps no more than the rules
 * allow, everything when there are none. The input is also the backup verb's body
 * (vmbackup_body_parse: src/manager/backup_chain.c, {"name", "consistency", "mode"}), and an
 * accepted one has a valid name and a known consistency. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/backup_chain.h"
#include "manager/backup_jobs.h"
#include "util/log.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = (char *)fuzz_dup(data, size);
	char err[600] = "";
	struct bjob_def d;
	int r = bjob_def_parse(text, size, &d, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(r == 0 || err[0] != 0);
	if (r == 0) {
		FUZZ_CHECK(mgr_vm_name_ok(d.id) && strlen(d.id) <= BJOB_ID_MAX);
		FUZZ_CHECK(!d.target_dir[0] || d.target_dir[0] == '/');
		FUZZ_CHECK(!d.vms || (json_array_size(d.vms) > 0 && json_array_size(d.vms) <= BJOB_VMS_MAX));
		bjob_def_free(&d);
	}
	/* The input as the backup verb's body. */
	char name[VM_NAME_MAX + 1], cons[12];
	bool inc;
	err[0] = '\0';
	r = vmbackup_body_parse(text, size, name, cons, &inc, err, sizeof(err));
	FUZZ_CHECK(r == 0 || (r == -EINVAL && err[0]));
	FUZZ_CHECK(r < 0 || (mgr_vm_name_ok(name) && (!cons[0] || !strcmp(cons, "auto") || !strcmp(cons, "crash") ||
							!strcmp(cons, "filesystem"))));
	/* The input as a retention object too, and its rules over times from the input's bytes. */
	json_t *o = json_loadb(text, size, 0, NULL);
	struct prune_keep k;
	err[0] = '\0';
	r = bjob_retention_parse(json_is_object(o) && json_object_get(o, "retention") ? json_object_get(o, "retention") : o,
				 &k, err, sizeof(err));
	FUZZ_CHECK(r == 0 || (r == -EINVAL && err[0]));
	if (r == 0) {
		size_t n = size / 4;
		time_t *times = calloc(n ? n : 1, sizeof(*times));
		bool *keep = calloc(n ? n : 1, sizeof(*keep));
		if (!times || !keep)
			abort();
		for (size_t i = 0; i < n; i++) {
			uint32_t v;
			memcpy(&v, data + 4 * i, 4);
			times[i] = 1798761600 + (time_t)(v % (3u * 366 * 86400));
		}
		backup_prune(times, n, &k, keep);
		size_t kept = 0, allowed = 0;
		for (size_t i = 0; i < n; i++)
			kept += keep[i];
		for (int i = 0; i < PRUNE_RULES; i++)
			allowed += k.n[i];
		FUZZ_CHECK(allowed ? kept <= allowed : kept == n);
		free(times);
		free(keep);
	}
	json_decref(o);
	free(text);
	return 0;
}
