/* petrelctl backup-job-define FILE, backup-job-list, backup-job-run ID, backup-job-remove ID,
 * backup-verify NAME BACKUP, backup-list NAME (docs/backups.md). */
#include "ctl/ctl.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define JOB_TIMEOUT_MS 30000
#define RUN_TIMEOUT_MS 3600000   /* a run backs up every VM of the job */

static int usage(void)
{
	fprintf(stderr, "usage: petrelctl backup-job-define FILE | backup-job-list | backup-job-run ID |\n"
			"       backup-job-remove ID | backup-verify NAME BACKUP | backup-list NAME\n");
	return EXIT_USAGE;
}

static void when(json_t *t, char *out, size_t size)
{
	time_t v = (time_t)json_integer_value(t);
	struct tm tm;
	if (!v || !localtime_r(&v, &tm))
		snprintf(out, size, "-");
	else
		strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm);
}

static int job_define(const char *file)
{
	json_t *o = NULL;
	int e = ctl_post_file("/backup-jobs", file, JOB_TIMEOUT_MS, &o);
	char next[32];
	when(json_object_get(o, "next_run"), next, sizeof(next));
	if (!e && ctl_json)
		ctl_print_json(o);
	else if (!e)
		printf("backup job %s defined from %s; next run %s\n", json_string_value(json_object_get(o, "id")), file, next);
	json_decref(o);
	return e;
}

static int job_list(void)
{
	json_t *a = NULL, *j;
	size_t i;
	int e = ctl_list("/backup-jobs", JOB_TIMEOUT_MS, &a);
	if (e || !a)
		return e;
	printf(" %-20s %-24s %-20s %-8s %s\n", "Job", "Schedule", "Last run", "Result", "Next run");
	printf("------------------------------------------------------------------------------------------\n");
	json_array_foreach(a, i, j) {
		char last[32], next[32];
		when(json_object_get(j, "last_run"), last, sizeof(last));
		when(json_object_get(j, "next_run"), next, sizeof(next));
		const char *res = json_string_value(json_object_get(j, "last_result"));
		printf(" %-20s %-24s %-20s %-8s %s%s\n", json_string_value(json_object_get(j, "id")),
		       json_string_value(json_object_get(j, "schedule")), last, res && *res ? res : "-", next,
		       json_is_true(json_object_get(j, "running")) ? " (running)" : "");
	}
	json_decref(a);
	return 0;
}

static int job_run(const char *id)
{
	char path[128];
	snprintf(path, sizeof(path), "/backup-jobs/%s/run", id);
	json_t *o = NULL;
	int e = ctl_request("POST", path, NULL, RUN_TIMEOUT_MS, &o);
	if (e)
		return e;
	if (ctl_json)
		ctl_print_json(o);
	const char *vm;
	json_t *r;
	bool ok = true;
	json_object_foreach(json_object_get(o, "last_vms"), vm, r) {
		const char *res = json_string_value(json_object_get(r, "result"));
		ok &= res && !strcmp(res, "ok");
		if (!ctl_json)
			printf("%s: %s %s%s%s\n", vm, res ? res : "?", json_string_value(json_object_get(r, "backup")) ?: "",
			       json_object_get(r, "reason") ? ": " : "", json_string_value(json_object_get(r, "reason")) ?: "");
	}
	json_decref(o);
	return ok ? 0 : EXIT_REFUSED;
}

/* A VM's backups (its own and its jobs' targets), oldest first, with their chains. */
static int backup_list(const char *vm)
{
	char path[160];
	snprintf(path, sizeof(path), "/vms/%s/backups", vm);
	json_t *a = NULL, *b;
	size_t i;
	int e = ctl_list(path, JOB_TIMEOUT_MS, &a);
	if (e || !a)
		return e;
	printf(" %-36s %-20s %-12s %-36s %-11s %s\n", "Backup", "Created", "Mode", "Parent", "Consistency", "Why");
	printf("------------------------------------------------------------------------------------------"
	       "----------------------------------\n");
	json_array_foreach(a, i, b) {
		char created[32];
		when(json_object_get(b, "created"), created, sizeof(created));
		const char *mode = json_string_value(json_object_get(b, "mode"));
		const char *parent = json_string_value(json_object_get(b, "parent"));
		const char *cons = json_string_value(json_object_get(b, "consistency"));
		const char *why = json_string_value(json_object_get(b, "why"));
		printf(" %-36s %-20s %-12s %-36s %-11s %s\n", json_string_value(json_object_get(b, "name")) ?: "?", created,
		       mode ? mode : "full", parent ? parent : "-", cons ? cons : "-", why ? why : "");
	}
	json_decref(a);
	return 0;
}

static int verify(const char *vm, const char *backup)
{
	char path[256];
	snprintf(path, sizeof(path), "/vms/%s/backups/%s/verify", vm, backup);
	json_t *o = NULL;
	int e = ctl_request("POST", path, NULL, RUN_TIMEOUT_MS, &o);
	if (e)
		return e;
	bool ok = json_is_true(json_object_get(o, "ok"));
	if (ctl_json) {
		ctl_print_json(o);
	} else {
		json_t *p;
		size_t i;
		json_array_foreach(json_object_get(o, "problems"), i, p)
			fprintf(stderr, "%s\n", json_string_value(p));
		if (ok)
			printf("backup %s of VM %s verified: %zu file(s) in %zu member(s) match their checksums\n", backup,
			       vm, json_array_size(json_object_get(o, "files")), json_array_size(json_object_get(o, "chain")));
	}
	json_decref(o);
	return ok ? 0 : EXIT_REFUSED;
}

int cmd_backup_job(int argc, char **argv)
{
	const char *cmd = argv[0];
	if (!strcmp(cmd, "backup-verify"))
		return argc == 3 ? verify(argv[1], argv[2]) : usage();
	if (!strcmp(cmd, "backup-job-list"))
		return argc == 1 ? job_list() : usage();
	if (!strcmp(cmd, "backup-list"))
		return argc == 2 ? backup_list(argv[1]) : usage();
	if (argc != 2)
		return usage();
	if (!strcmp(cmd, "backup-job-define"))
		return job_define(argv[1]);
	if (!strcmp(cmd, "backup-job-run"))
		return job_run(argv[1]);
	if (!strcmp(cmd, "backup-job-remove")) {
		char path[128];
		snprintf(path, sizeof(path), "/backup-jobs/%s", argv[1]);
		int e = ctl_request("DELETE", path, NULL, JOB_TIMEOUT_MS, NULL);
		if (!e)
			printf("backup job %s removed (its backups stay)\n", argv[1]);
		return e;
	}
	return usage();
}
