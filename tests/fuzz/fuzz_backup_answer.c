/* libFuzzer target: a jailed worker's answer to a backup (untrusted: the worker parses the
 * guest's disks), as petreld takes it into the member's meta.json: its consistency
 * (consistency_meta: src/manager/clone_body.c), its mode, why and disks (backup_chain_meta:
 * src/manager/backup_chain.c) and the disks' SHA-256 sums (backup_checksums:
 * src/manager/backup_verify.c) over a member directory of two files made once.
 *
 * Checked: the consistency is "filesystem" or "crash", frozen_ms only a non-negative integer
 * with "filesystem"; the mode is "full" or "incremental", "disks" an array; every regular file
 * of the directory, and only those, has a sum of 64 lowercase hex digits, which is the worker's
 * where it gave a well-formed one for that file and the file's true SHA-256 otherwise. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "manager/backup_chain.h"
#include "manager/backup_verify.h"
#include "manager/verbs.h"
#include "util/log.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

/* sha256("petrel disk a\n") and sha256(""), as sha256sum(1) gives them */
#define SUM_A "53facf12990b4c2d03e978cc0ac648b7c9f5da7ab0f6cc194bf295821257c367"
#define SUM_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static char dir[64];

/* The member directory goes with the process (libFuzzer ends with exit()). */
static void remove_dir(void)
{
	static const char *const names[] = { "a.qcow2", "b.img" };
	char path[128];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sub", dir);
	rmdir(path);
	rmdir(dir);
}

static const char *member_dir(void)
{
	if (dir[0])
		return dir;
	snprintf(dir, sizeof(dir), "/tmp/fuzz-backup-answer.%d", (int)getpid());
	char path[128];
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		abort();
	atexit(remove_dir);
	snprintf(path, sizeof(path), "%s/a.qcow2", dir);
	FILE *f = fopen(path, "w");
	if (!f || fputs("petrel disk a\n", f) < 0 || fclose(f))
		abort();
	snprintf(path, sizeof(path), "%s/b.img", dir);
	if (!(f = fopen(path, "w")) || fclose(f))
		abort();
	snprintf(path, sizeof(path), "%s/sub", dir);   /* not a regular file: no sum */
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		abort();
	/* a.qcow2's sum as petreld takes it with no answer: it must be the file's */
	json_t *sums = NULL;
	char err[256];
	if (backup_checksums(dir, NULL, &sums, err, sizeof(err)) < 0)
		abort();
	const char *a = json_string_value(json_object_get(sums, "a.qcow2"));
	if (!a || strcmp(a, SUM_A))
		abort();
	json_decref(sums);
	return dir;
}

static bool hex64(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

/* The sum the answer gives file, when well formed (the first one that names it). */
static const char *answered(json_t *answer, const char *file)
{
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(answer, "disks"), i, d) {
		const char *f = json_string_value(json_object_get(d, "file"));
		const char *h = json_string_value(json_object_get(d, "sha256"));
		if (f && !strcmp(f, file) && hex64(h))
			return h;
	}
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = member_dir();
	json_t *answer = json_loadb((const char *)data, size, 0, NULL);

	json_t *how = consistency_meta(answer);
	const char *c = json_string_value(json_object_get(how, "consistency"));
	FUZZ_CHECK(c && (!strcmp(c, "filesystem") || !strcmp(c, "crash")));
	json_t *ms = json_object_get(how, "frozen_ms");
	FUZZ_CHECK(!ms || (!strcmp(c, "filesystem") && json_is_integer(ms) && json_integer_value(ms) >= 0));
	json_decref(how);

	struct backup_plan plan;
	memset(&plan, 0, sizeof(plan));
	plan.incremental = size & 1;
	snprintf(plan.chain_id, sizeof(plan.chain_id), "api:b1");
	snprintf(plan.prev, sizeof(plan.prev), "%s", size & 2 ? "b1" : "");
	json_t *meta = json_object();
	backup_chain_meta(meta, &plan, answer);
	const char *mode = json_string_value(json_object_get(meta, "mode"));
	FUZZ_CHECK(mode && (!strcmp(mode, "full") || !strcmp(mode, "incremental")));
	FUZZ_CHECK(json_is_array(json_object_get(meta, "disks")));
	FUZZ_CHECK(!json_object_get(meta, "parent") || plan.prev[0]);
	json_decref(meta);

	json_t *sums = NULL;
	char err[256] = "";
	int e = backup_checksums(d, json_object_get(answer, "disks"), &sums, err, sizeof(err));
	FUZZ_CHECK(e == 0);
	FUZZ_CHECK(json_object_size(sums) == 2);
	const char *a = json_string_value(json_object_get(sums, "a.qcow2"));
	const char *b = json_string_value(json_object_get(sums, "b.img"));
	const char *ga = answered(answer, "a.qcow2"), *gb = answered(answer, "b.img");
	FUZZ_CHECK(hex64(a) && hex64(b));
	FUZZ_CHECK(!strcmp(a, ga ? ga : SUM_A));
	FUZZ_CHECK(!strcmp(b, gb ? gb : SUM_EMPTY));
	json_decref(sums);
	json_decref(answer);
	return 0;
}
