/* petreld's API of backup jobs (backup_routes.c), below routes.c's table (docs/backups.md#api):
 *   GET  /backup-jobs            [jobs: id, schedule, definition, next_run, last_run, last_result, ...]
 *   POST /backup-jobs            define (body: a job): 201 new, 200 redefined
 *   GET  /backup-jobs/ID         the job, with its backups per VM
 *   DELETE /backup-jobs/ID       204 (its backups stay)
 *   POST /backup-jobs/ID/run     run it now; answered when done: the job
 *   POST /backup-calendar        {"schedule", "after", "count"}: the next times a calendar names
 *   POST /backup-retention       {"retention", "times"}: which backups a retention keeps
 *   POST /vms/NAME/backups/BACKUP/verify   the backup's checksums and chain checked
 * 400 a bad body, 404 no such job, VM or backup, 409 a job that is running. */
#ifndef PETREL_MANAGER_BACKUP_ROUTES_H
#define PETREL_MANAGER_BACKUP_ROUTES_H

#include "http/response.h"

#include <stddef.h>

struct manager;
struct mgr_vm;

/* /backup-jobs[/...] (m->lock held): rest is the path below it, NULL for /backup-jobs. */
enum api_result backup_jobs_route(struct manager *m, const char *method, const char *rest, const char *body,
				  size_t len, struct api_response *r, api_done_fn done, void *opaque);
enum api_result backup_calendar_post(const char *body, size_t len, struct api_response *r);
enum api_result backup_retention_post(const char *body, size_t len, struct api_response *r);
/* POST /vms/NAME/backups/BACKUP/verify (m->lock held): checked on a thread of its own. */
enum api_result backup_verify_post(struct manager *m, struct mgr_vm *vm, const char *backup, struct api_response *r,
				   api_done_fn done, void *opaque);

#endif
