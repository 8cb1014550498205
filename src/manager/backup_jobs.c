/* Backup jobs (backup_jobs.h): their definitions and states on disk, the scheduler thread and
 * the runs. A run backs up each of its VMs through the jobs' backup verb (jobs.c, the VM busy
 * meanwhile), named ID-YYYYMMDDTHHMMSSZ after the occurrence it is for, then prunes that VM's
 * backups of the job. The state is written before a run (the run under way, the next
 * occurrence already moved on) and after it, so a petreld killed at any point neither loses a
 * run nor makes one twice: the next petreld finishes the run under way, and a backup whose name
 * exists already is not made again. The model: systemd's timers with Persistent=true, Proxmox's
 * vzdump jobs. */
#include "manager/backup_jobs.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/jobs.h"
#include "manager/mgr.h"
#include "manager/test_clock.h"
#include "manager/util.h"
#include "manager/verbs.h"
#include "util/error.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct bjob {
	struct bjob *next;
	struct bjob_def def;
	/* its state, saved in ID.state */
	time_t next_run;            /* 0: the calendar names no more */
	time_t last_run, last_end;  /* the last run's occurrence and its end (petreld's clock); 0: never */
	char last_result[8];        /* "ok", "failed" (a VM's backup failed), "" never */
	json_t *last_vms;           /* {"VM": {"result", "backup", "pruned" | "reason"}} (owned) */
	time_t running;             /* the occurrence of the run under way, 0: none */
	bool busy;                  /* a thread runs it */
};

/* The jobs; m->lock guards the list and every field. */
static struct bjob *jobs;
/* The scheduler waits on it (with m->lock): a job defined or run. */
static pthread_cond_t sched_cond = PTHREAD_COND_INITIALIZER;

static struct bjob *find(const char *id)
{
	for (struct bjob *j = jobs; j; j = j->next)
		if (!strcmp(j->def.id, id))
			return j;
	return NULL;
}

static void bjob_free(struct bjob *j)
{
	bjob_def_free(&j->def);
	json_decref(j->last_vms);
	free(j);
}

static time_t next_after(const struct bjob *j, time_t t)
{
	time_t n;
	return calendar_next_after(&j->def.cal, t, &n) == 0 ? n : 0;
}

static json_t *state_json(const struct bjob *j)
{
	json_t *o = json_pack("{s:I, s:I, s:I, s:s, s:O}", "next_run", (json_int_t)j->next_run, "last_run",
			      (json_int_t)j->last_run, "last_end", (json_int_t)j->last_end, "last_result", j->last_result,
			      "last_vms", j->last_vms ? j->last_vms : json_null());
	if (j->running)
		json_object_set_new(o, "running", json_integer((json_int_t)j->running));
	return o;
}

/* Write ID.state (m->lock held): synced before a run begins and after it ends. */
static void save_state(struct manager *m, const struct bjob *j)
{
	char file[BJOB_ID_MAX + 8], err[256];
	json_t *o = state_json(j);
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	snprintf(file, sizeof(file), "%s.state", j->def.id);
	if (!text || defs_write_file(m->backup_jobs_dir, file, text, 0640, err, sizeof(err)) < 0)
		fprintf(stderr, "petreld: backup job %s: cannot save its state: %s\n", j->def.id, text ? err : "out of memory");
	free(text);
}

static void load_state(struct manager *m, struct bjob *j, time_t now)
{
	char file[BJOB_ID_MAX + 8], err[256];
	_cleanup_free_ char *text = NULL;
	snprintf(file, sizeof(file), "%s.state", j->def.id);
	json_t *o = defs_read(m->backup_jobs_dir, file, &text, err, sizeof(err)) >= 0 ? json_loads(text, 0, NULL) : NULL;
	json_t *nr = json_object_get(o, "next_run");
	j->next_run = json_is_integer(nr) ? (time_t)json_integer_value(nr) : next_after(j, now);
	j->last_run = (time_t)json_integer_value(json_object_get(o, "last_run"));
	j->last_end = (time_t)json_integer_value(json_object_get(o, "last_end"));
	j->running = (time_t)json_integer_value(json_object_get(o, "running"));
	snprintf(j->last_result, sizeof(j->last_result), "%s", json_string_value(json_object_get(o, "last_result")) ?: "");
	json_t *lv = json_object_get(o, "last_vms");
	j->last_vms = json_is_object(lv) ? json_incref(lv) : NULL;
	json_decref(o);
}

static bool load_job(const char *id, void *arg)
{
	struct manager *m = arg;
	char err[512], file[VM_NAME_MAX + 8];
	_cleanup_free_ char *text = NULL;
	struct bjob *j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	snprintf(file, sizeof(file), "%s.json", id);
	if (defs_read(m->backup_jobs_dir, file, &text, err, sizeof(err)) < 0 ||
	    bjob_def_parse(text, strlen(text), &j->def, err, sizeof(err)) < 0 || strcmp(id, j->def.id)) {
		fprintf(stderr, "petreld: skipping backup job %s: %s\n", file,
			j->def.doc ? "its id is not its file's name" : err);
		bjob_free(j);
		return true;
	}
	load_state(m, j, mgr_clock_now(m));
	j->next = jobs;
	jobs = j;
	return true;
}

void backup_jobs_load(struct manager *m)
{
	defs_each_json(m->backup_jobs_dir, load_job, m);
}

/* ---- a run ---- */

/* The answer of one VM's backup job (jobs.c), waited for by the run. */
struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	unsigned status;
	char *body;
};

static void backup_done(void *opaque, struct api_response *r)
{
	struct waiter *w = opaque;
	pthread_mutex_lock(&w->mu);
	w->status = r->status;
	w->body = TAKE_PTR(r->body);
	api_response_free(r);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* Begin the backup of vm as a job of the VM (m->lock held, released while it runs): 0, or -errno
 * and why (the VM's state, its worker's fault). */
static int backup_one(struct manager *m, struct mgr_vm *vm, const struct bjob_def *d, const char *name, char *err,
		      size_t errlen)
{
	struct mgr_job *j = mgr_job_new(m, vm, MGR_VERB_BACKUP);
	if (!j)
		return error_oom(err, errlen);
	snprintf(j->arg.name, sizeof(j->arg.name), "%s", name);
	/* "auto" is the worker's default: not sent (a worker without the guest agent's freeze
	 * knows no such field) */
	snprintf(j->consistency, sizeof(j->consistency), "%s", strcmp(d->consistency, "auto") ? d->consistency : "");
	j->target = d->target_dir[0] ? d->target_dir : NULL;
	j->bmode.incremental = d->incremental;
	j->bmode.full_every = d->full_every;
	snprintf(j->bmode.key, sizeof(j->bmode.key), "job:%s", d->id);
	int e = jobs_begin(j, err, errlen);
	if (e < 0) {
		mgr_job_free(j);
		return e;
	}
	struct waiter w = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
	if (jobs_start(j, backup_done, &w) < 0) {
		jobs_abandon(j);
		return error_set(err, errlen, -EAGAIN, "cannot start a thread");
	}
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_lock(&m->lock);
	if (w.status < 300) {
		free(w.body);
		return 0;
	}
	json_t *o = w.body ? json_loads(w.body, 0, NULL) : NULL;
	e = error_set(err, errlen, -EIO, "%s", json_string_value(json_object_get(o, "fault_message")) ?: "failed");
	json_decref(o);
	free(w.body);
	return e;
}

/* The job's backups of one VM in parent: names (ID-...) and their meta.json's "created" and
 * "parent"; *n of them. */
struct member { char name[VM_NAME_MAX + 1]; char parent[VM_NAME_MAX + 1]; time_t created; };

static int oldest_first(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	return x->created < y->created ? -1 : x->created > y->created ? 1 : strcmp(x->name, y->name);
}

static struct member *job_members(const char *parent, const char *id, size_t *n)
{
	*n = 0;
	DIR *d = opendir(parent);
	if (!d)
		return NULL;
	struct member *ms = NULL;
	size_t cap = 0, idlen = strlen(id);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, id, idlen) || de->d_name[idlen] != '-' || strchr(de->d_name, '.') ||
		    strlen(de->d_name) > VM_NAME_MAX)
			continue;
		char dir[PATH_MAX + 80];
		snprintf(dir, sizeof(dir), "%s/%s", parent, de->d_name);
		json_t *meta = meta_dir_read(dir);
		if (!meta)
			continue;
		if (*n == cap) {
			struct member *more = realloc(ms, (cap = cap ? 2 * cap : 64) * sizeof(*ms));
			if (!more) {
				json_decref(meta);
				break;
			}
			ms = more;
		}
		struct member *x = &ms[(*n)++];
		snprintf(x->name, sizeof(x->name), "%s", de->d_name);
		snprintf(x->parent, sizeof(x->parent), "%s", json_string_value(json_object_get(meta, "parent")) ?: "");
		x->created = (time_t)json_integer_value(json_object_get(meta, "created"));
		json_decref(meta);
	}
	closedir(d);
	if (ms)
		qsort(ms, *n, sizeof(*ms), oldest_first);
	return ms;
}

/* Prune the job's backups of vm by its retention: what the rules do not keep is removed, except
 * a member a kept one is built on (an incremental's chain is removed from its oldest end only).
 * The names removed, as an array. */
static json_t *prune_vm(struct manager *m, const struct bjob_def *d, const char *vm)
{
	char parent[PATH_MAX];
	json_t *removed = json_array();
	if (vmbackup_parent_dir(m, vm, d->target_dir, parent, sizeof(parent)) < 0)
		return removed;
	size_t n;
	_cleanup_free_ struct member *ms = job_members(parent, d->id, &n);
	_cleanup_free_ time_t *times = malloc((n ? n : 1) * sizeof(*times));
	_cleanup_free_ bool *keep = malloc((n ? n : 1) * sizeof(*keep));
	if (!ms || !times || !keep)
		return removed;
	for (size_t i = 0; i < n; i++)
		times[i] = ms[i].created;
	backup_prune(times, n, &d->keep, keep);
	for (bool more = true; more;) {   /* the members kept ones are built on */
		more = false;
		for (size_t i = 0; i < n; i++)
			for (size_t k = 0; keep[i] && ms[i].parent[0] && k < n; k++)
				if (!keep[k] && !strcmp(ms[k].name, ms[i].parent))
					keep[k] = more = true;
	}
	for (size_t i = 0; i < n; i++) {
		char dir[PATH_MAX + 80];
		snprintf(dir, sizeof(dir), "%s/%s", parent, ms[i].name);
		if (!keep[i] && rm_tree(dir) == 0)
			json_array_append_new(removed, json_string(ms[i].name));
	}
	return removed;
}

/* The VMs of a run (m->lock held): its list, or "all": every VM with a worker. */
static json_t *run_vms(struct manager *m, const struct bjob_def *d)
{
	if (d->vms)
		return json_copy(d->vms);
	json_t *a = json_array();
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (vm->pid > 0 && !vm->incoming)
			json_array_append_new(a, json_string(vm->def.name));
	return a;
}

/* One VM of a run (m->lock held): its result {"result", "backup", "pruned" | "reason"}. */
static json_t *run_vm(struct manager *m, const struct bjob_def *d, const char *name, const char *backup)
{
	char err[600], parent[PATH_MAX], dir[PATH_MAX + 80];
	struct mgr_vm *vm = mgr_vm_find(m, name);
	json_t *res;
	int e = 0;
	if (!vm) {
		e = error_set(err, sizeof(err), -ENOENT, "no VM named '%s'", name);
	} else if (vmbackup_parent_dir(m, name, d->target_dir, parent, sizeof(parent)) == 0 &&
		   snprintf(dir, sizeof(dir), "%s/%s", parent, backup) > 0 && access(dir, F_OK) == 0) {
		/* made by the run a killed petreld cut short: not again */
	} else {
		mgr_event_emit(m, name, "backup job started", json_pack("{s:s, s:s}", "job", d->id, "backup", backup));
		e = backup_one(m, vm, d, backup, err, sizeof(err));
	}
	if (e < 0) {
		res = json_pack("{s:s, s:s, s:s}", "result", "failed", "backup", backup, "reason", err);
		if (mgr_vm_find(m, name))
			mgr_event_emit(m, name, "backup job failed", json_pack("{s:s, s:s, s:s}", "job", d->id, "backup",
									      backup, "reason", err));
		return res;
	}
	pthread_mutex_unlock(&m->lock);   /* removing backups takes time: not with the lock */
	json_t *pruned = prune_vm(m, d, name);
	pthread_mutex_lock(&m->lock);
	res = json_pack("{s:s, s:s, s:O}", "result", "ok", "backup", backup, "pruned", pruned);
	if (mgr_vm_find(m, name))
		mgr_event_emit(m, name, "backup job finished", json_pack("{s:s, s:s, s:o}", "job", d->id, "backup", backup,
									"pruned", pruned));
	else
		json_decref(pruned);
	return res;
}

/* Run j for its occurrence (m->lock held; j->busy set by the caller, cleared here). scheduled:
 * the calendar's run, whose next occurrence is moved on first. */
static void run(struct manager *m, struct bjob *j, time_t occurrence, bool scheduled)
{
	time_t now = mgr_clock_now(m);
	if (scheduled)
		j->next_run = next_after(j, now > occurrence ? now : occurrence);
	j->running = occurrence;
	save_state(m, j);
	/* the definition as it is now: a redefinition meanwhile changes the next run, not this one */
	struct bjob_def d = j->def;
	json_incref(d.doc);
	json_incref(d.vms);
	char backup[VM_NAME_MAX + 1], stamp[32];
	struct tm tm;
	gmtime_r(&occurrence, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(backup, sizeof(backup), "%.40s-%.23s", d.id, stamp);
	json_t *vms = run_vms(m, &d), *results = json_object(), *n;
	size_t i;
	bool ok = true;
	json_array_foreach(vms, i, n) {
		json_t *r = run_vm(m, &d, json_string_value(n), backup);
		ok &= !strcmp(json_string_value(json_object_get(r, "result")), "ok");
		json_object_set_new(results, json_string_value(n), r);
	}
	json_decref(vms);
	bjob_def_free(&d);
	j->last_run = occurrence;
	j->last_end = mgr_clock_now(m);
	snprintf(j->last_result, sizeof(j->last_result), "%s", ok ? "ok" : "failed");
	json_decref(j->last_vms);
	j->last_vms = results;
	j->running = 0;
	j->busy = false;
	save_state(m, j);
	pthread_cond_broadcast(&sched_cond);
}

static void *scheduler(void *arg)
{
	struct manager *m = arg;
	pthread_mutex_lock(&m->lock);
	for (;;) {
		time_t now = mgr_clock_now(m);
		struct bjob *due = NULL;
		for (struct bjob *j = jobs; j && !due; j = j->next)
			if (!j->busy && (j->running || (j->next_run && j->next_run <= now)))
				due = j;
		if (due) {
			bool resumed = due->running != 0;
			due->busy = true;
			run(m, due, resumed ? due->running : due->next_run, !resumed);
			continue;
		}
		/* The test clock is a file a test rewrites: looked at often. The real one: every second
		 * (a clock set forward or back is seen at once). */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		long step = m->test_clock ? 50000000L : 1000000000L;
		ts.tv_nsec += step;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&sched_cond, &m->lock, &ts);
	}
	return NULL;
}

int backup_jobs_start(struct manager *m)
{
	return mgr_detached(scheduler, m);
}

/* ---- the API's verbs (m->lock held) ---- */

static json_t *job_json(const struct bjob *j)
{
	json_t *o = state_json(j);
	json_object_set_new(o, "id", json_string(j->def.id));
	json_object_set_new(o, "schedule", json_string(j->def.schedule));
	json_object_set(o, "definition", j->def.doc);
	json_object_set_new(o, "busy", json_boolean(j->busy));
	json_object_set_new(o, "running", json_boolean(j->running != 0));
	return o;
}

json_t *backup_jobs_list(struct manager *m)
{
	json_t *a = json_array();
	for (struct bjob *j = jobs; j; j = j->next)
		json_array_append_new(a, job_json(j));
	return a;
}

json_t *backup_job_json(struct manager *m, const char *id)
{
	struct bjob *j = find(id);
	if (!j)
		return NULL;
	json_t *o = job_json(j), *b = json_object();
	json_t *vms = run_vms(m, &j->def), *n;
	size_t i;
	json_array_foreach(vms, i, n) {   /* the job's backups of each VM, oldest first */
		char parent[PATH_MAX];
		size_t count = 0;
		json_t *names = json_array();
		if (vmbackup_parent_dir(m, json_string_value(n), j->def.target_dir, parent, sizeof(parent)) == 0) {
			_cleanup_free_ struct member *ms = job_members(parent, j->def.id, &count);
			for (size_t k = 0; ms && k < count; k++)
				json_array_append_new(names, json_pack("{s:s, s:I}", "name", ms[k].name, "created",
								       (json_int_t)ms[k].created));
		}
		json_object_set_new(b, json_string_value(n), names);
	}
	json_decref(vms);
	json_object_set_new(o, "backups", b);
	return o;
}

int backup_job_define(struct manager *m, const char *text, size_t len, bool *created, json_t **out, char *err,
		      size_t errlen)
{
	struct bjob_def d;
	int e = bjob_def_parse(text, len, &d, err, errlen);
	if (e < 0)
		return e;
	struct bjob *j = find(d.id);
	if (j && j->busy) {
		bjob_def_free(&d);
		return error_set(err, errlen, -EBUSY, "backup job '%s' is running: define it again when it ends", d.id);
	}
	char file[BJOB_ID_MAX + 8];
	snprintf(file, sizeof(file), "%s.json", d.id);
	char *doc = json_dumps(d.doc, JSON_INDENT(2));
	if (!doc || (mkdir(m->backup_jobs_dir, 0750) < 0 && errno != EEXIST) ||
	    (e = defs_write_file(m->backup_jobs_dir, file, doc, 0640, err, errlen)) < 0) {
		if (!doc || !e)
			e = error_set(err, errlen, doc ? -errno : -ENOMEM, "cannot make %s: %s", m->backup_jobs_dir,
				      doc ? strerror(errno) : "out of memory");
		free(doc);
		bjob_def_free(&d);
		return e;
	}
	free(doc);
	*created = !j;
	if (!j) {
		if (!(j = calloc(1, sizeof(*j)))) {
			bjob_def_free(&d);
			return error_oom(err, errlen);
		}
		j->next = jobs;
		jobs = j;
	} else {
		bjob_def_free(&j->def);
	}
	j->def = d;
	j->next_run = next_after(j, mgr_clock_now(m));   /* from now, by the (new) calendar */
	save_state(m, j);
	pthread_cond_broadcast(&sched_cond);
	*out = job_json(j);
	return 0;
}

int backup_job_remove(struct manager *m, const char *id, char *err, size_t errlen)
{
	struct bjob **p = &jobs;
	while (*p && strcmp((*p)->def.id, id))
		p = &(*p)->next;
	if (!*p)
		return error_set(err, errlen, -ENOENT, "no backup job '%s'", id);
	if ((*p)->busy)
		return error_set(err, errlen, -EBUSY, "backup job '%s' is running", id);
	char file[PATH_MAX];
	int e = defs_remove(m->backup_jobs_dir, id, err, errlen);
	if (e < 0 && e != -ENOENT)
		return e;
	snprintf(file, sizeof(file), "%s/%s.state", m->backup_jobs_dir, id);
	unlink(file);
	struct bjob *j = *p;
	*p = j->next;
	bjob_free(j);   /* its backups stay */
	return 0;
}

struct run_now { struct manager *m; struct bjob *j; api_done_fn done; void *opaque; };

static void *run_now_thread(void *arg)
{
	struct run_now *q = arg;
	struct manager *m = q->m;
	pthread_mutex_lock(&m->lock);
	run(m, q->j, mgr_clock_now(m), false);
	json_t *o = job_json(q->j);   /* a busy job is not removed: q->j is still there */
	pthread_mutex_unlock(&m->lock);
	struct api_response r = { 0 };
	api_set_json(&r, 200, o);
	q->done(q->opaque, &r);
	free(q);
	return NULL;
}

int backup_job_run_now(struct manager *m, const char *id, api_done_fn done, void *opaque, char *err, size_t errlen)
{
	struct bjob *j = find(id);
	if (!j)
		return error_set(err, errlen, -ENOENT, "no backup job '%s'", id);
	if (j->busy)
		return error_set(err, errlen, -EBUSY, "backup job '%s' is running", id);
	struct run_now *q = malloc(sizeof(*q));
	if (!q)
		return error_oom(err, errlen);
	*q = (struct run_now){ m, j, done, opaque };
	j->busy = true;
	if (mgr_detached(run_now_thread, q) < 0) {
		j->busy = false;
		free(q);
		return error_set(err, errlen, -EAGAIN, "cannot start a thread");
	}
	return 0;
}

static int by_created(const void *a, const void *b)
{
	json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "created"));
	json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "created"));
	return x < y ? -1 : x > y;
}

json_t *backup_jobs_vm_backups(struct manager *m, const char *vm, json_t *list)
{
	for (struct bjob *j = jobs; j; j = j->next) {
		char parent[PATH_MAX];
		bool seen = false;   /* a target two jobs share: listed once */
		for (struct bjob *k = jobs; k != j; k = k->next)
			seen |= !strcmp(k->def.target_dir, j->def.target_dir);
		if (seen || !j->def.target_dir[0] || vmbackup_parent_dir(m, vm, j->def.target_dir, parent, sizeof(parent)) < 0)
			continue;
		json_t *more = meta_dirs_list(parent);
		json_array_extend(list, more);
		json_decref(more);
	}
	size_t n = json_array_size(list);
	json_t **v = malloc((n ? n : 1) * sizeof(*v));
	if (!v)
		return list;
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(list, i));
	qsort(v, n, sizeof(*v), by_created);
	json_array_clear(list);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, v[i]);
	free(v);
	return list;
}

int backup_jobs_find_backup(struct manager *m, const char *vm, const char *name, char *dir, size_t size)
{
	char parent[PATH_MAX];
	if (vmbackup_parent_dir(m, vm, NULL, parent, sizeof(parent)) == 0 &&
	    (size_t)snprintf(dir, size, "%s/%s", parent, name) < size && access(dir, F_OK) == 0)
		return 0;
	for (struct bjob *j = jobs; j; j = j->next)
		if (j->def.target_dir[0] && vmbackup_parent_dir(m, vm, j->def.target_dir, parent, sizeof(parent)) == 0 &&
		    (size_t)snprintf(dir, size, "%s/%s", parent, name) < size && access(dir, F_OK) == 0)
			return 0;
	return -ENOENT;
}
