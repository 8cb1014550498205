/* Backup jobs (docs/backups.md): backups of VMs on a calendar, pruned by a retention, run by
 * petreld's scheduler. A job is a definition file <backup jobs dir>/ID.json and a state file
 * ID.state (last run, its result per VM, the next run, a run under way), both written
 * atomically. backup_jobdef.c parses a definition (untrusted: fuzzed by fuzz_backup_job),
 * backup_jobs.c keeps the jobs, runs the scheduler thread and the runs. */
#ifndef PETREL_MANAGER_BACKUP_JOBS_H
#define PETREL_MANAGER_BACKUP_JOBS_H

#include "manager/backup_calendar.h"
#include "manager/backup_prune.h"
#include "manager/definition.h"
#include "http/response.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct manager;

#define BJOB_ID_MAX 40      /* a backup's name is ID-YYYYMMDDTHHMMSSZ: at most VM_NAME_MAX */
#define BJOB_VMS_MAX 1000

struct bjob_def {
	char id[BJOB_ID_MAX + 1];
	json_t *vms;                /* an array of VM names, or NULL: "all" (every running VM) */
	char schedule[CAL_TEXT_MAX + 1];
	struct calendar cal;
	char target_dir[PATH_MAX];  /* "": the VM's own backups (<snapshot dir>/<vm>.backups) */
	struct prune_keep keep;
	char consistency[12];       /* "auto", "filesystem", "crash" */
	bool incremental;           /* "mode": "incremental" (the default), or "full" */
	unsigned full_every;        /* "full-every": N: a full member every N backups (0: only when needed) */
	json_t *doc;                /* the definition as given (owned) */
};

/* backup_jobdef.c: a definition {"id", "vms": [..] | "all", "schedule", "target_dir",
 * "retention": {"keep-last": N, ...}, "consistency", "mode"} into d: 0, or -EINVAL and why
 * (the field named). */
int bjob_def_parse(const char *text, size_t len, struct bjob_def *d, char *err, size_t errlen);
/* The retention object {"keep-last": N, ...} (each 0 to PRUNE_KEEP_MAX, all optional). */
int bjob_retention_parse(json_t *o, struct prune_keep *k, char *err, size_t errlen);
void bjob_def_free(struct bjob_def *d);

/* backup_jobs.c: load the jobs and their states (at start, before the scheduler). */
void backup_jobs_load(struct manager *m);
/* Start the scheduler thread: due jobs run, one at a time; a run that was due while petreld was
 * down runs once now, one cut short by petreld's end is finished (its VMs already backed up are
 * not backed up again). 0 or -errno. */
int backup_jobs_start(struct manager *m);
/* m->lock held: */
json_t *backup_jobs_list(struct manager *m);
/* A job as the API shows it (its definition, state, next run, backups), NULL: no such job. */
json_t *backup_job_json(struct manager *m, const char *id);
/* Define (or redefine) a job from its definition: 0 (*created when new), or -errno and why. */
int backup_job_define(struct manager *m, const char *text, size_t len, bool *created, json_t **out, char *err,
		      size_t errlen);
int backup_job_remove(struct manager *m, const char *id, char *err, size_t errlen);
/* Run a job now, on a thread of its own; done answers with the run's result. */
int backup_job_run_now(struct manager *m, const char *id, api_done_fn done, void *opaque, char *err,
		       size_t errlen);
/* Where a VM's backup NAME is: its own backups, or a job's target: 0 and dir, or -ENOENT. */
int backup_jobs_find_backup(struct manager *m, const char *vm, const char *name, char *dir, size_t size);
/* A VM's backups: list (its own, taken) and those in the jobs' targets (each meta.json without its
 * definition, with "dir"), oldest first. */
json_t *backup_jobs_vm_backups(struct manager *m, const char *vm, json_t *list);

#endif
