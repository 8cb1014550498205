/* petreld's API of backup jobs, calendars, retention and verification (backup_routes.h). */
#include "manager/backup_routes.h"
#include "manager/answer.h"
#include "manager/backup_jobs.h"
#include "manager/backup_verify.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALENDAR_COUNT_MAX 1000
#define RETENTION_TIMES_MAX 100000

static enum api_result fault(struct api_response *r, int e, const char *err)
{
	return mgr_answer_fault(r, e == -ENOENT ? 404 : mgr_status_of(e), err);
}

enum api_result backup_jobs_route(struct manager *m, const char *method, const char *rest, const char *body,
				  size_t len, struct api_response *r, api_done_fn done, void *opaque)
{
	char err[600], id[BJOB_ID_MAX + 2];
	int e;
	if (!rest || !rest[0]) {
		if (!strcmp(method, "GET"))
			return mgr_answer_json(r, 200, backup_jobs_list(m));
		if (strcmp(method, "POST"))
			return mgr_answer_fault(r, 405, "GET or POST");
		bool created = false;
		json_t *o = NULL;
		if ((e = backup_job_define(m, body, len, &created, &o, err, sizeof(err))) < 0)
			return mgr_answer_fault(r, e == -EINVAL ? 400 : mgr_status_of(e), err);
		return mgr_answer_json(r, created ? 201 : 200, o);
	}
	size_t n = strcspn(rest, "/");
	if (n > BJOB_ID_MAX)
		return mgr_answer_fault(r, 404, "no such backup job: an id is 1 to 40 of [A-Za-z0-9-]");
	memcpy(id, rest, n);
	id[n] = '\0';
	const char *sub = rest + n;
	if (!strcmp(sub, "/run")) {
		if (strcmp(method, "POST"))
			return mgr_answer_fault(r, 405, "POST");
		if ((e = backup_job_run_now(m, id, done, opaque, err, sizeof(err))) < 0)
			return fault(r, e, err);
		return API_PENDING;
	}
	if (sub[0])
		return mgr_answer_fault(r, 404, "unknown path");
	if (!strcmp(method, "GET")) {
		json_t *o = backup_job_json(m, id);
		return o ? mgr_answer_json(r, 200, o) : mgr_answer_fault(r, 404, "no such backup job");
	}
	if (strcmp(method, "DELETE"))
		return mgr_answer_fault(r, 405, "GET or DELETE");
	if ((e = backup_job_remove(m, id, err, sizeof(err))) < 0)
		return fault(r, e, err);
	r->status = 204;
	return API_DONE;
}

/* {"schedule": EXPR, "after": T (default now), "count": N (default 1)}: {"next": [T...]}, as
 * systemd-analyze calendar --iterations=N; the local time zone is petreld's (TZ). */
enum api_result backup_calendar_post(const char *body, size_t len, struct api_response *r)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	const char *s = json_string_value(json_object_get(o, "schedule"));
	json_t *after = json_object_get(o, "after"), *count = json_object_get(o, "count");
	char err[300];
	struct calendar cal;
	if (!json_is_object(o) || !s || json_object_size(o) != 1u + !!after + !!count ||
	    (after && !json_is_integer(after)) ||
	    (count && (!json_is_integer(count) || json_integer_value(count) < 1 ||
		       json_integer_value(count) > CALENDAR_COUNT_MAX))) {
		json_decref(o);
		return mgr_answer_fault(r, 400, "expected {\"schedule\": EXPR, \"after\": SECONDS, \"count\": 1..1000}");
	}
	if (calendar_parse(s, &cal, err, sizeof(err)) < 0) {
		json_decref(o);
		return mgr_answer_fault(r, 400, err);
	}
	time_t t = after ? (time_t)json_integer_value(after) : time(NULL);
	long k = count ? (long)json_integer_value(count) : 1;
	json_decref(o);
	json_t *a = json_array();
	for (long i = 0; i < k && calendar_next_after(&cal, t, &t) == 0; i++)
		json_array_append_new(a, json_integer((json_int_t)t));
	return mgr_answer_json(r, 200, json_pack("{s:o}", "next", a));
}

/* {"retention": {...}, "times": [T...]}: {"keep": [T...], "remove": [T...]} (Proxmox's prune
 * simulator's question: what would these rules keep of backups taken at these times?). */
enum api_result backup_retention_post(const char *body, size_t len, struct api_response *r)
{
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *ts = json_object_get(o, "times");
	char err[300];
	struct prune_keep k;
	size_t n = json_array_size(ts);
	if (!json_is_object(o) || json_object_size(o) != 2 || !json_is_array(ts) || n > RETENTION_TIMES_MAX) {
		json_decref(o);
		return mgr_answer_fault(r, 400, "expected {\"retention\": {...}, \"times\": [SECONDS...]} (at most 100000)");
	}
	if (bjob_retention_parse(json_object_get(o, "retention"), &k, err, sizeof(err)) < 0) {
		json_decref(o);
		return mgr_answer_fault(r, 400, err);
	}
	_cleanup_free_ time_t *times = malloc((n ? n : 1) * sizeof(*times));
	_cleanup_free_ bool *keep = malloc((n ? n : 1) * sizeof(*keep));
	if (!times || !keep) {
		json_decref(o);
		return mgr_answer_fault(r, 500, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(ts, i);
		times[i] = (time_t)json_integer_value(t);
		if (!json_is_integer(t) || times[i] < 0) {
			json_decref(o);
			return mgr_answer_fault(r, 400, "times: non-negative integers");
		}
	}
	json_decref(o);
	backup_prune(times, n, &k, keep);
	json_t *kept = json_array(), *removed = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(keep[i] ? kept : removed, json_integer((json_int_t)times[i]));
	return mgr_answer_json(r, 200, json_pack("{s:o, s:o}", "keep", kept, "remove", removed));
}

struct verify_req { char parent[PATH_MAX], name[VM_NAME_MAX + 1]; api_done_fn done; void *opaque; };

static void *verify_thread(void *arg)
{
	struct verify_req *q = arg;
	json_t *rep = backup_verify(q->parent, q->name);
	struct api_response r = { 0 };
	api_set_json(&r, 200, rep);
	q->done(q->opaque, &r);
	free(q);
	return NULL;
}

enum api_result backup_verify_post(struct manager *m, struct mgr_vm *vm, const char *backup, struct api_response *r,
				   api_done_fn done, void *opaque)
{
	char dir[PATH_MAX];
	if (backup_jobs_find_backup(m, vm->def.name, backup, dir, sizeof(dir)) < 0) {
		char msg[200];
		snprintf(msg, sizeof(msg), "VM '%s' has no backup '%s'", vm->def.name, backup);
		return mgr_answer_fault(r, 404, msg);
	}
	struct verify_req *q = calloc(1, sizeof(*q));
	if (!q)
		return mgr_answer_fault(r, 500, "out of memory");
	snprintf(q->parent, sizeof(q->parent), "%s", dirname(dir));
	snprintf(q->name, sizeof(q->name), "%s", backup);
	q->done = done;
	q->opaque = opaque;
	if (mgr_detached(verify_thread, q) < 0) {
		free(q);
		return mgr_answer_fault(r, 500, "cannot start a thread");
	}
	return API_PENDING;
}
