/* petreld's REST/JSON API (docs/manager.md#api), served by petrel's own HTTP server
 * (src/api/http.c) on a Unix socket:
 *   GET  /                      the service
 *   GET  /vms                   every VM          POST /vms        define (body: definition)
 *   GET  /vms/NAME              one VM            DELETE /vms/NAME undefine
 *   GET  /vms/NAME/definition   its definition    PUT /vms/NAME/resources  partitioning
 *   POST /vms/NAME/{start,shutdown,destroy,reboot,pause,resume}
 *   GET  /events                the event stream (JSON lines, long-lived)
 *   GET  /vms/NAME/snapshots    its snapshots     POST .../snapshots {"name"}  create
 *   DELETE /vms/NAME/snapshots/S                  POST .../snapshots/S/revert
 *   POST /vms/NAME/backup {"name"}  a backup with its disks   GET /vms/NAME/backups  the backups
 *   GET  /vms/NAME/console      its console output: recent, then as it comes (long-lived)
 *   POST /vms/NAME/console      the body (1 to 4096 bytes) typed into its serial console
 *   POST /vms/NAME/clone {"snapshot", "count", "prefix"}  clones   POST /vms/NAME/restore {"backup"}
 *   PATCH /vms/NAME/machine     {"vcpu_count", "memory_mib"}: hot-plug, balloon
 *   GET  /stats                 every VM's CPU time, memory and I/O (petrelctl top)
 *   GET  /list[/running]        every (running) VM, brief: name, state, pid, resources (petrelctl list)
 *   GET  /vms/NAME/replica      its part in a replicated pair; POST .../replica/{standby,primary,promote}
 *                               (replica.c)
 *   GET  /whoami                who is asking (peer.h: a Unix peer, a TLS certificate, anonymous TLS)
 *   POST /vms/NAME/migrate {"to"}  live migration to another host's petreld (migrate.c)
 *   GET  /vms/NAME/migration    its migration: outgoing, incoming or none (migration_status.c)
 *   POST /migrations/incoming, DELETE /migrations/incoming/NAME  its target's side (migrate_in.c)
 * Every request is first checked by auth_check (auth.c).
 * Errors are {"fault_message": "..."} with 400 (bad input), 401 (a TLS client without a
 * certificate), 404 (no such VM or path), 405,
 * 409 (the VM's state or another verb in progress), 502/504 (its worker failed or hangs),
 * 507 (no space for the definition), 500. */
#include "manager/console.h"
#include "manager/definitions.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/jobs.h"
#include "manager/mgr.h"
#include "manager/partition.h"
#include "manager/peer.h"
#include "manager/replica.h"
#include "manager/service.h"
#include "manager/stats.h"
#include "manager/util.h"
#include "manager/verbs.h"
#include "manager/web.h"
#include "api/http.h"
#include "api/router.h"
#include "util/error.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum api_result json_answer(struct api_response *r, unsigned status, json_t *o)
{
	r->status = status;
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!r->body)
		api_response_fault(r, 500, "out of memory");
	return API_DONE;
}

static enum api_result fault(struct api_response *r, unsigned status, const char *msg)
{
	api_response_fault(r, status, "%s", msg);
	return API_DONE;
}

static enum api_result define(struct manager *m, const char *body, size_t len, struct api_response *r)
{
	char err[512];
	struct vm_def def;
	int e = def_parse(body, len, &def, err, sizeof(err));
	if (e < 0)
		return fault(r, 400, err);
	pthread_mutex_lock(&m->lock);
	struct mgr_vm *vm = mgr_vm_find(m, def.name);
	if (vm && vm->job)
		e = error_set(err, sizeof(err), -EBUSY, "VM '%s' is busy: %s in progress", def.name, vm->job->name);
	if (!e)
		e = def_check_files(m, &def, err, sizeof(err));
	if (!e)
		e = save_definition(m, &def, err, sizeof(err));
	if (!e && !vm && !(vm = calloc(1, sizeof(*vm))))
		e = error_set(err, sizeof(err), -ENOMEM, "out of memory");
	if (e < 0) {
		pthread_mutex_unlock(&m->lock);
		def_free(&def);
		return fault(r, mgr_status_of(e), err);
	}
	bool created = !vm->def.doc;
	if (created) {
		vm->pidfd = -1;
		vm->last_exit = -1;
		vm->next = m->vms;
		m->vms = vm;
	}
	def_free(&vm->def);
	vm->def = def;
	mgr_event_emit(m, def.name, created ? "defined" : "redefined", NULL);
	enum api_result res = json_answer(r, created ? 201 : 200, mgr_vm_to_json(m, vm));
	pthread_mutex_unlock(&m->lock);
	return res;
}

static enum api_result undefine(struct manager *m, struct mgr_vm *vm, struct api_response *r)
{
	char err[512];
	if (vm->job || vm->pid > 0 || vm->state == VM_RUNNING || vm->state == VM_PAUSED ||
	    vm->state == VM_STARTING)
		return fault(r, 409, "the VM is running: shut it down or destroy it first");
	int e = defs_remove(m->defs_dir, vm->def.name, err, sizeof(err));
	if (e < 0)
		return fault(r, mgr_status_of(e), err);
	for (struct mgr_vm **p = &m->vms; *p; p = &(*p)->next)
		if (*p == vm) {
			*p = vm->next;
			break;
		}
	mgr_event_emit(m, vm->def.name, "undefined", NULL);
	mgr_vm_free(vm);
	r->status = 204;
	return API_DONE;
}

static enum api_result set_resources(struct manager *m, struct mgr_vm *vm, const char *body, size_t len,
				     struct api_response *r)
{
	char err[512];
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	struct vm_resources res = vm->def.res;
	int e = o ? partition_parse(o, &res, err, sizeof(err))
		  : error_set(err, sizeof(err), -EINVAL, "expected a JSON object");
	json_decref(o);
	if (e < 0)
		return fault(r, 400, err);
	if (vm->job)
		return fault(r, 409, "the VM is busy: try again");
	bool up = vm->pid > 0;
	if (up && (e = partition_apply(m, vm, &res, err, sizeof(err))) < 0) {
		char undo[256];
		partition_apply(m, vm, &vm->def.res, undo, sizeof(undo));
		return fault(r, 500, err);
	}
	json_t *doc = json_deep_copy(vm->def.doc);
	json_object_set_new(json_object_get(doc, "petrel"), "resources", partition_to_json(&res));
	struct vm_def nd = vm->def;
	nd.doc = doc;
	nd.res = res;
	if ((e = save_definition(m, &nd, err, sizeof(err))) < 0) {
		json_decref(doc);
		if (up)
			partition_apply(m, vm, &vm->def.res, err + 256, 256);
		return fault(r, mgr_status_of(e), err);
	}
	json_decref(vm->def.doc);
	vm->def = nd;
	mgr_event_emit(m, vm->def.name, "resources changed", json_pack("{s:o}", "resources", partition_to_json(&res)));
	json_t *out = mgr_vm_to_json(m, vm);
	if (up)
		json_object_set_new(out, "cgroup", partition_read(m, vm));
	return json_answer(r, 200, out);
}

/* The name at the start of rest (up to a '/') into out: its length, or 0 if it is no name. */
static size_t path_name(const char *rest, char out[VM_NAME_MAX + 2])
{
	size_t n = strcspn(rest, "/");
	if (n > VM_NAME_MAX)
		return 0;
	memcpy(out, rest, n);
	out[n] = '\0';
	return mgr_vm_name_ok(out) ? n : 0;
}

/* Begin the job j (its arguments parsed) and run it: the answer comes through done. */
static enum api_result run_job(struct mgr_job *j, struct api_response *r, api_done_fn done, void *opaque)
{
	char err[256];
	int e = jobs_begin(j, err, sizeof(err));
	if (e < 0) {
		mgr_job_free(j);
		return fault(r, mgr_status_of(e), err);
	}
	if ((e = jobs_start(j, done, opaque)) < 0) {
		jobs_abandon(j);
		return fault(r, 500, "cannot start a thread");
	}
	return API_PENDING;
}

static enum api_result no_memory(struct api_response *r)
{
	return fault(r, 500, "out of memory");
}

/* A body {"name": NAME} (a snapshot's, a backup's) into out (VM_NAME_MAX + 1 bytes). */
static bool name_body(const char *body, size_t len, char *out)
{
	return name_body_parse(body, len, "name", out);
}

/* /vms/NAME/snapshots[/SNAP[/revert]] */
static enum api_result snapshot_route(struct manager *m, struct mgr_vm *vm, const char *method, const char *rest,
				      const char *body, size_t len, struct api_response *r, api_done_fn done,
				      void *opaque)
{
	char err[512];
	if (!rest) {
		if (!strcmp(method, "GET"))
			return json_answer(r, 200, vmsnap_list(m, vm));
		if (strcmp(method, "POST"))
			return fault(r, 405, "GET or POST");
		if (vm->job)
			return fault(r, 409, "the VM is busy");
		struct mgr_job *j = mgr_job_new(m, vm, MGR_VERB_SNAPSHOT);
		if (!j)
			return no_memory(r);
		if (!name_body(body, len, j->arg.name)) {
			mgr_job_free(j);
			return fault(r, 400, "expected {\"name\": NAME}, NAME 1 to 64 of [A-Za-z0-9-]");
		}
		return run_job(j, r, done, opaque);
	}
	char snap[VM_NAME_MAX + 2];
	size_t n = path_name(rest, snap);
	if (!n)
		return fault(r, 404, "no such snapshot: a name is 1 to 64 of [A-Za-z0-9-]");
	if (!rest[n]) {
		if (strcmp(method, "DELETE"))
			return fault(r, 405, "DELETE");
		if (vm->job)
			return fault(r, 409, "the VM is busy");
		int e = vmsnap_delete(m, vm, snap, err, sizeof(err));
		if (e < 0)
			return fault(r, e == -ENOENT ? 404 : mgr_status_of(e), err);
		r->status = 204;
		return API_DONE;
	}
	if (strcmp(rest + n, "/revert"))
		return fault(r, 404, "unknown path");
	if (strcmp(method, "POST"))
		return fault(r, 405, "POST");
	if (!mgr_vm_has_snapshot(m, vm->def.name, snap))
		return fault(r, 404, "no such snapshot");
	if (vm->job)
		return fault(r, 409, "the VM is busy");
	struct mgr_job *j = mgr_job_new(m, vm, MGR_VERB_REVERT);
	if (!j)
		return no_memory(r);
	snprintf(j->arg.name, sizeof(j->arg.name), "%.64s", snap);
	return run_job(j, r, done, opaque);
}

/* POST /vms/NAME/clone {"snapshot", "count", "prefix", "start", "net"} (clone.c),
 * POST /vms/NAME/restore {"backup"} (restore.c). */
static enum api_result clone_restore_route(struct manager *m, struct mgr_vm *vm, const char *method, const char *sub,
					   const char *body, size_t len, struct api_response *r, api_done_fn done,
					   void *opaque)
{
	char err[512];
	bool clone = !strcmp(sub, "clone");
	if (strcmp(method, "POST"))
		return fault(r, 405, "POST");
	if (vm->job)
		return fault(r, 409, "the VM is busy");
	struct mgr_job *j = mgr_job_new(m, vm, clone ? MGR_VERB_CLONE : MGR_VERB_RESTORE);
	if (!j)
		return no_memory(r);
	int e = clone ? vmclone_prepare(m, vm, body, len, &j->arg.clone, err, sizeof(err))
		      : vmrestore_parse(body, len, j->arg.name, err, sizeof(err));
	if (!e && !clone)
		e = vmrestore_check(m, vm, j->arg.name, err, sizeof(err));
	if (e < 0) {
		mgr_job_free(j);
		return fault(r, e == -ENOENT ? 404 : mgr_status_of(e), err);
	}
	return run_job(j, r, done, opaque);
}

static const struct { const char *name; enum mgr_verb verb; } verbs[] = {
	{ "start", MGR_VERB_START }, { "shutdown", MGR_VERB_SHUTDOWN }, { "destroy", MGR_VERB_DESTROY },
	{ "reboot", MGR_VERB_REBOOT }, { "pause", MGR_VERB_PAUSE }, { "resume", MGR_VERB_RESUME },
};

/* POST /vms/NAME/migrate {"to", "downtime_ms", "timeout_s"} (migrate.c) */
static enum api_result migrate_route(struct manager *m, struct mgr_vm *vm, const char *body, size_t len,
				     struct api_response *r, api_done_fn done, void *opaque)
{
	char err[512];
	struct mgr_job *j = mgr_job_new(m, vm, MGR_VERB_MIGRATE);
	if (!j)
		return no_memory(r);
	int e = peer_migrate_parse(body, len, &j->arg.migrate, err, sizeof(err));
	if (!e && !m->tls)
		e = error_set(err, sizeof(err), -EINVAL, "this petreld has no certificates: start it with --tls-dir");
	if (e < 0) {
		mgr_job_free(j);
		api_response_fault(r, e == -EINVAL ? 400 : mgr_status_of(e), "%s", err);
		return API_DONE;
	}
	return run_job(j, r, done, opaque);
}

static enum api_result vm_route(struct manager *m, const char *method, const char *rest, const char *body,
				size_t len, struct api_response *r, api_done_fn done, void *opaque)
{
	char name[VM_NAME_MAX + 2];
	size_t n = path_name(rest, name);
	if (!n)
		return fault(r, 404, "no such VM: a name is 1 to 64 of [A-Za-z0-9-]");
	const char *sub = rest[n] ? rest + n + 1 : NULL;
	struct mgr_vm *vm = mgr_vm_find(m, name);
	if (!vm) {
		char msg[128];
		snprintf(msg, sizeof(msg), "no VM named '%s'", name);
		return fault(r, 404, msg);
	}
	if (!sub) {
		if (!strcmp(method, "GET")) {
			json_t *o = mgr_vm_to_json(m, vm);
			if (vm->pid > 0)
				json_object_set_new(o, "cgroup", partition_read(m, vm));
			return json_answer(r, 200, o);
		}
		if (!strcmp(method, "DELETE"))
			return undefine(m, vm, r);
		return fault(r, 405, "GET or DELETE");
	}
	if (!strcmp(sub, "definition")) {
		if (strcmp(method, "GET"))
			return fault(r, 405, "GET");
		return json_answer(r, 200, json_incref(vm->def.doc));
	}
	if (!strcmp(sub, "resources")) {
		if (!strcmp(method, "GET"))
			return json_answer(r, 200, json_pack("{s:o, s:o}", "resources", partition_to_json(&vm->def.res),
							     "cgroup", vm->pid > 0 ? partition_read(m, vm) : json_object()));
		if (strcmp(method, "PUT") && strcmp(method, "PATCH"))
			return fault(r, 405, "GET, PUT or PATCH");
		return set_resources(m, vm, body, len, r);
	}
	if (!strcmp(sub, "console")) {
		if (!strcmp(method, "POST")) {
			char err[256];
			int e = console_input_write(m, vm, body, len, err, sizeof(err));
			if (e < 0)
				return fault(r, mgr_status_of(e), err);
			r->status = 204;
			return API_DONE;
		}
		if (strcmp(method, "GET"))
			return fault(r, 405, "GET or POST");
		if (!(r->stream_opaque = console_reader_new(m, vm->def.name)))
			return fault(r, 500, "out of memory");
		r->status = 200;
		r->stream = console_stream;
		return API_DONE;
	}
	if (!strcmp(sub, "machine")) {
		if (strcmp(method, "PATCH"))
			return fault(r, 405, "PATCH");
		char err[256];
		long vcpus, mem;
		json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
		int e = machine_parse(o, &vcpus, &mem, err, sizeof(err));
		json_decref(o);
		if (e < 0)
			return fault(r, 400, err);
		if (vm->job)
			return fault(r, 409, "the VM is busy");
		struct mgr_job *j = mgr_job_new(m, vm, MGR_VERB_MACHINE);
		if (!j)
			return no_memory(r);
		j->arg.machine.vcpus = vcpus;
		j->arg.machine.mem_mib = mem;
		return run_job(j, r, done, opaque);
	}
	if (!strcmp(sub, "backups")) {
		if (strcmp(method, "GET"))
			return fault(r, 405, "GET");
		return json_answer(r, 200, vmbackup_list(m, vm));
	}
	if (!strcmp(sub, "backup")) {
		if (strcmp(method, "POST"))
			return fault(r, 405, "POST");
		if (vm->job)
			return fault(r, 409, "the VM is busy");
		struct mgr_job *j = mgr_job_new(m, vm, MGR_VERB_BACKUP);
		if (!j)
			return no_memory(r);
		if (!name_body(body, len, j->arg.name)) {
			mgr_job_free(j);
			return fault(r, 400, "expected {\"name\": NAME}, NAME 1 to 64 of [A-Za-z0-9-]");
		}
		return run_job(j, r, done, opaque);
	}
	if (!strcmp(sub, "migrate")) {
		if (strcmp(method, "POST"))
			return fault(r, 405, "POST");
		return migrate_route(m, vm, body, len, r, done, opaque);
	}
	if (!strcmp(sub, "migration"))
		return migration_status_route(m, vm, method, r, done, opaque);
	if (!strncmp(sub, "replica", 7) && (!sub[7] || sub[7] == '/')) {
		json_t *args = NULL;
		enum mgr_verb verb = replica_route(m, vm, method, sub[7] ? sub + 8 : NULL, body, len, &args, r);
		if (verb == MGR_VERB_NONE)
			return API_DONE;
		struct mgr_job *j = mgr_job_new(m, vm, verb);
		if (!j) {
			json_decref(args);
			return no_memory(r);
		}
		j->arg.replica = args;
		return run_job(j, r, done, opaque);
	}
	if (!strcmp(sub, "clone") || !strcmp(sub, "restore"))
		return clone_restore_route(m, vm, method, sub, body, len, r, done, opaque);
	if (!strncmp(sub, "snapshots", 9) && (!sub[9] || sub[9] == '/'))
		return snapshot_route(m, vm, method, sub[9] ? sub + 10 : NULL, body, len, r, done, opaque);
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(sub, verbs[i].name))
			continue;
		if (strcmp(method, "POST"))
			return fault(r, 405, "POST");
		struct mgr_job *j = mgr_job_new(m, vm, verbs[i].verb);
		return j ? run_job(j, r, done, opaque) : no_memory(r);
	}
	return fault(r, 404, "unknown path");
}

static enum api_result handle(void *ctx, const char *method, const char *path, const char *body, size_t len,
			      struct api_response *r, api_done_fn done, void *opaque)
{
	struct manager *m = ctx;
	r->status = 500;
	r->body = NULL;
	if (!done)
		return fault(r, 500, "no way to answer later");
	/* The web page's routes, and the gate for every request (web.h, web_gate.c): who asks
	 * (api_request_principal), and for browsers their session, CSRF token, Origin and Host. */
	enum api_result wres;
	if (web_route(m, method, path, body, len, r, opaque, &wres, done))
		return wres;
	char why[300];
	const struct api_principal *who = api_request_principal(opaque);
	unsigned denied = auth_check(m, who, method, path, why, sizeof(why));
	if (denied)
		return fault(r, denied, why);
	if (!strcmp(path, "/whoami"))
		return strcmp(method, "GET") ? fault(r, 405, "GET") : json_answer(r, 200, auth_principal_json(who));
	if (!strncmp(path, "/migrations/incoming", 20) && (!path[20] || path[20] == '/'))
		return peer_incoming_route(m, method, path, body, len, who, r, done, opaque);
	if (!strcmp(path, "/events")) {
		if (strcmp(method, "GET"))
			return fault(r, 405, "GET");
		r->status = 200;
		r->stream = events_subscribe;
		r->stream_opaque = m;
		return API_DONE;
	}
	pthread_mutex_lock(&m->lock);
	enum api_result res;
	if (!strcmp(path, "/")) {
		unsigned n = 0, running = 0;
		for (struct mgr_vm *vm = m->vms; vm; vm = vm->next) {
			n++;
			running += vm->pid > 0;
		}
		res = !strcmp(method, "GET")
			? json_answer(r, 200, json_pack("{s:s, s:s, s:i, s:i, s:b}", "service", "petreld", "version",
						       PETREL_VERSION, "vms", n, "running", running, "jailer", m->jailer != NULL))
			: fault(r, 405, "GET");
	} else if (!strcmp(path, "/list") || !strcmp(path, "/list/running")) {
		/* What a listing shows, small (petrelctl list): the full objects of GET /vms are
		 * most of the time of a list at 1000 VMs. */
		bool running = path[5] != '\0';
		if (!strcmp(method, "GET")) {
			json_t *a = json_array();
			for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
				if (!running || vm->pid > 0)
					json_array_append_new(a, mgr_vm_brief_json(vm));
			res = json_answer(r, 200, a);
		} else {
			res = fault(r, 405, "GET");
		}
	} else if (!strcmp(path, "/vms")) {
		if (!strcmp(method, "GET")) {
			json_t *a = json_array();
			for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
				json_array_append_new(a, mgr_vm_to_json(m, vm));
			res = json_answer(r, 200, a);
		} else if (!strcmp(method, "POST")) {
			pthread_mutex_unlock(&m->lock);
			return define(m, body, len, r);
		} else {
			res = fault(r, 405, "GET or POST");
		}
	} else if (!strcmp(path, "/stats")) {
		res = !strcmp(method, "GET") ? json_answer(r, 200, stats_json(m)) : fault(r, 405, "GET");
	} else if (!strncmp(path, "/vms/", 5)) {
		res = vm_route(m, method, path + 5, body, len, r, done, opaque);
	} else {
		res = fault(r, 404, "unknown path");
	}
	pthread_mutex_unlock(&m->lock);
	return res;
}

int mgr_api_start(struct manager *m, struct api_server **out)
{
	int e = api_server_start_handler(out, handle, m, m->socket_path, DEF_MAX_BYTES);
	if (e < 0)
		return e;
	/* root and the petrel group only */
	struct group *g = getgrnam("petrel");
	if (g && chown(m->socket_path, 0, g->gr_gid) < 0)
		fprintf(stderr, "petreld: cannot give %s to group petrel: %m\n", m->socket_path);
	chmod(m->socket_path, 0660);
	return 0;
}
