/* petreld's REST/JSON API (docs/manager.md#api), served by petrel's own HTTP server
 * (src/http/server.c) on a Unix socket, routed through two tables (below: the service's paths,
 * and a VM's, /vms/NAME/...) as the VMM's own API is (src/api/routes.c):
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
 *   /networks[/NAME[/...]]      host networks (net/net_routes.c)
 *   /backup-jobs[/ID[/run]], POST /backup-calendar, POST /backup-retention, POST
 *   /vms/NAME/backups/BACKUP/verify   backup jobs, their calendars and retention, verification
 *                               (backup_routes.c)
 *   GET  /images                the image store    POST /images {"name", "path", "move"}  import
 *   DELETE /images/NAME         (409 while a VM's disk uses it) (images.c)
 *   POST /vms/from-image        VMs made from an image, each on an overlay of it (from_image.c)
 *   GET  /vms/NAME/guest/{ping,info,interfaces}, PUT .../{fsfreeze,shutdown,time,fstrim}: its guest
 *                               agent, through its worker (guest.c)
 * Every request is first checked by auth_check (auth.c). Errors are {"fault_message": "..."}
 * with 400 (bad input), 401 (a TLS client without a certificate), 404 (no such VM or path), 405,
 * 409 (the VM's state or another verb in progress), 502/504 (its worker failed or hangs), 507 (no
 * space for the definition), 500. */
#include "manager/answer.h"
#include "manager/backup_jobs.h"
#include "manager/backup_routes.h"
#include "manager/console.h"
#include "manager/define.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/from_image.h"
#include "manager/guest.h"
#include "manager/images.h"
#include "manager/jobs.h"
#include "manager/mgr.h"
#include "manager/net/net_routes.h"
#include "manager/partition.h"
#include "manager/peer/peer.h"
#include "manager/replica.h"
#include "manager/route_walk.h"
#include "manager/service.h"
#include "manager/stats.h"
#include "manager/util.h"
#include "manager/verbs.h"
#include "manager/web/web.h"
#include "http/server.h"
#include "http/response.h"
#include "util/error.h"

#include <errno.h>
#include <grp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static enum api_result no_memory(struct api_response *r)
{
	return mgr_answer_fault(r, 500, "out of memory");
}

/* Begin the job j (its arguments parsed) and run it: the answer comes through done. */
static enum api_result run_job(struct call *c, struct mgr_job *j)
{
	char err[256];
	int e = jobs_begin(j, err, sizeof(err));
	if (e < 0) {
		mgr_job_free(j);
		return mgr_answer_fault(c->r, mgr_status_of(e), err);
	}
	if ((e = jobs_start(j, c->done, c->opaque)) < 0) {
		jobs_abandon(j);
		return mgr_answer_fault(c->r, 500, "cannot start a thread");
	}
	return API_PENDING;
}

/* A new job of verb on the VM, refused while another runs. */
static struct mgr_job *new_job(struct call *c, enum mgr_verb verb, enum api_result *res)
{
	struct mgr_job *j = NULL;
	if (c->vm->job)
		*res = mgr_answer_fault(c->r, 409, "the VM is busy");
	else if (!(j = mgr_job_new(c->m, c->vm, verb)))
		*res = no_memory(c->r);
	return j;
}

/* ---- the service's paths ---- */

static enum api_result get_whoami(struct call *c)
{
	return mgr_answer_json(c->r, 200, auth_principal_json(c->who));
}

static enum api_result incoming(struct call *c)
{
	return peer_incoming_route(c->m, c->method, c->path, c->body, c->len, c->who, c->r, c->done, c->opaque);
}

static enum api_result networks(struct call *c)
{
	return net_route(c->m, c->method, c->rest, c->body, c->len, c->r);
}

static enum api_result backup_jobs(struct call *c)
{
	return backup_jobs_route(c->m, c->method, c->rest, c->body, c->len, c->r, c->done, c->opaque);
}

static enum api_result post_backup_calendar(struct call *c)
{
	return backup_calendar_post(c->body, c->len, c->r);
}

static enum api_result post_backup_retention(struct call *c)
{
	return backup_retention_post(c->body, c->len, c->r);
}

static enum api_result get_events(struct call *c)
{
	c->r->status = 200;
	c->r->stream = events_subscribe;
	c->r->stream_opaque = c->m;
	return API_DONE;
}

static enum api_result get_service(struct call *c)
{
	unsigned n = 0, running = 0;
	for (struct mgr_vm *vm = c->m->vms; vm; vm = vm->next) {
		n++;
		running += vm->pid > 0;
	}
	return mgr_answer_json(c->r, 200, json_pack("{s:s, s:s, s:i, s:i, s:b}", "service", "petreld", "version",
						    PETREL_VERSION, "vms", n, "running", running, "jailer",
						    c->m->jailer != NULL));
}

/* What a listing shows, small (petrelctl list): the full objects of GET /vms are most of the
 * time of a list at 1000 VMs. */
static enum api_result get_list(struct call *c)
{
	bool running = c->path[5] != '\0';
	json_t *a = json_array();
	for (struct mgr_vm *vm = c->m->vms; vm; vm = vm->next)
		if (!running || vm->pid > 0)
			json_array_append_new(a, mgr_vm_brief_json(c->m, vm));
	return mgr_answer_json(c->r, 200, a);
}

static enum api_result get_vms(struct call *c)
{
	json_t *a = json_array();
	for (struct mgr_vm *vm = c->m->vms; vm; vm = vm->next)
		json_array_append_new(a, mgr_vm_to_json(c->m, vm));
	return mgr_answer_json(c->r, 200, a);
}

static enum api_result post_vms(struct call *c)
{
	/* checked before the lock is taken: define_vm takes it */
	pthread_mutex_unlock(&c->m->lock);
	enum api_result res = define_vm(c->m, c->body, c->len, c->r);
	pthread_mutex_lock(&c->m->lock);
	return res;
}

static enum api_result get_images(struct call *c)
{
	pthread_mutex_lock(&c->m->lock);   /* the route is unlocked for POST's sake */
	json_t *a = images_list(c->m);
	pthread_mutex_unlock(&c->m->lock);
	return mgr_answer_json(c->r, 200, a);
}

/* POST /images: the copy runs on a thread of its own, without m->lock (images.c). */
static enum api_result post_images(struct call *c)
{
	char err[512];
	struct image_import q;
	if (image_import_parse(c->body, c->len, &q, err, sizeof(err)) < 0)
		return mgr_answer_fault(c->r, 400, err);
	if (images_import_start(c->m, &q, c->done, c->opaque) < 0)
		return mgr_answer_fault(c->r, 500, "cannot start a thread");
	return API_PENDING;
}

static enum api_result delete_image(struct call *c)
{
	char err[700];
	int e = images_remove(c->m, c->star, err, sizeof(err));
	if (e < 0)
		return mgr_answer_fault(c->r, e == -ENOENT ? 404 : mgr_status_of(e), err);
	c->r->status = 204;
	return API_DONE;
}

/* POST /vms/from-image (from_image.c): checked here, made on a thread of its own. */
static enum api_result post_from_image(struct call *c)
{
	char err[512];
	struct image_vm_req *q = NULL;
	int e = vmimage_prepare(c->m, c->body, c->len, &q, err, sizeof(err));
	if (e < 0)   /* -ENOENT: no such image */
		return mgr_answer_fault(c->r, e == -ENOENT ? 404 : mgr_status_of(e), err);
	if (vmimage_start(c->m, q, c->done, c->opaque) < 0) {
		vmimage_free(q);
		return mgr_answer_fault(c->r, 500, "cannot start a thread");
	}
	return API_PENDING;
}

static enum api_result get_stats(struct call *c)
{
	return mgr_answer_json(c->r, 200, stats_json(c->m));
}

static enum api_result vm_route(struct call *c);

static const struct route service_routes[] = {
	{ "whoami", .get = get_whoami, .unlocked = true },
	{ "migrations/incoming", .any = incoming, .subtree = true, .unlocked = true },   /* migrate_in.c */
	{ "events", .get = get_events, .unlocked = true },
	{ "", .get = get_service },
	{ "list", .get = get_list },
	{ "list/running", .get = get_list },
	{ "vms", .get = get_vms, .post = post_vms },
	{ "vms/" FROM_IMAGE_PATH, .post = post_from_image },
	{ "stats", .get = get_stats },
	{ "images", .get = get_images, .post = post_images, .unlocked = true },
	{ "images/*", .del = delete_image, .star_fault = "no such image: a name is 1 to 64 of [A-Za-z0-9-]" },
	{ "vms", .any = vm_route, .subtree = true },
	{ "networks", .any = networks, .subtree = true },
	{ "backup-jobs", .any = backup_jobs, .subtree = true },
	{ "backup-calendar", .post = post_backup_calendar, .unlocked = true },
	{ "backup-retention", .post = post_backup_retention, .unlocked = true },
};

/* ---- a VM's paths: /vms/NAME/... ---- */

static enum api_result get_vm(struct call *c)
{
	json_t *o = mgr_vm_to_json(c->m, c->vm);
	if (c->vm->pid > 0)
		json_object_set_new(o, "cgroup", partition_read(c->m, c->vm));
	return mgr_answer_json(c->r, 200, o);
}

static enum api_result delete_vm(struct call *c)
{
	return undefine_vm(c->m, c->vm, c->r);
}

static enum api_result get_definition(struct call *c)
{
	return mgr_answer_json(c->r, 200, json_incref(c->vm->def.doc));
}

static enum api_result get_resources(struct call *c)
{
	struct mgr_vm *vm = c->vm;
	return mgr_answer_json(c->r, 200, json_pack("{s:o, s:o}", "resources", partition_to_json(&vm->def.res), "cgroup",
						    vm->pid > 0 ? partition_read(c->m, vm) : json_object()));
}

static enum api_result put_resources(struct call *c)
{
	return set_resources(c->m, c->vm, c->body, c->len, c->r);
}

static enum api_result get_console(struct call *c)
{
	if (!(c->r->stream_opaque = console_reader_new(c->m, c->vm->def.name)))
		return no_memory(c->r);
	c->r->status = 200;
	c->r->stream = console_stream;
	return API_DONE;
}

static enum api_result post_console(struct call *c)
{
	char err[256];
	int e = console_input_write(c->m, c->vm, c->body, c->len, err, sizeof(err));
	if (e < 0)
		return mgr_answer_fault(c->r, mgr_status_of(e), err);
	c->r->status = 204;
	return API_DONE;
}

static enum api_result patch_machine(struct call *c)
{
	char err[256];
	long vcpus, mem;
	json_t *o = json_loadb(c->body, c->len, JSON_REJECT_DUPLICATES, NULL);
	int e = machine_parse(o, &vcpus, &mem, err, sizeof(err));
	json_decref(o);
	if (e < 0)
		return mgr_answer_fault(c->r, 400, err);
	enum api_result res;
	struct mgr_job *j = new_job(c, MGR_VERB_MACHINE, &res);
	if (!j)
		return res;
	j->arg.machine.vcpus = vcpus;
	j->arg.machine.mem_mib = mem;
	return run_job(c, j);
}

static enum api_result get_backups(struct call *c)
{
	return mgr_answer_json(c->r, 200, backup_jobs_vm_backups(c->m, c->vm->def.name, vmbackup_list(c->m, c->vm)));
}

static enum api_result post_verify(struct call *c)
{
	return backup_verify_post(c->m, c->vm, c->star, c->r, c->done, c->opaque);
}

/* POST .../backup, .../snapshots {"name": NAME} */
/* POST /vms/NAME/backup and POST /vms/NAME/snapshots: {"name", "consistency"} */
static enum api_result consistent_job(struct call *c, enum mgr_verb verb)
{
	enum api_result res;
	char err[160];
	struct mgr_job *j = new_job(c, verb, &res);
	if (!j)
		return res;
	if (named_consistency_parse(c->body, c->len, j->arg.name, j->consistency, err, sizeof(err)) < 0) {
		mgr_job_free(j);
		return mgr_answer_fault(c->r, 400, err);
	}
	return run_job(c, j);
}

/* POST /vms/NAME/backup {"name", "consistency", "mode"} */
static enum api_result post_backup(struct call *c)
{
	enum api_result res;
	char err[200];
	struct mgr_job *j = new_job(c, MGR_VERB_BACKUP, &res);
	if (!j)
		return res;
	if (vmbackup_body_parse(c->body, c->len, j->arg.name, j->consistency, &j->bmode.incremental, err, sizeof(err)) < 0) {
		mgr_job_free(j);
		return mgr_answer_fault(c->r, 400, err);
	}
	snprintf(j->bmode.key, sizeof(j->bmode.key), "api");
	return run_job(c, j);
}

/* POST /vms/NAME/migrate {"to", "downtime_ms", "timeout_s"} (migrate.c) */
static enum api_result post_migrate(struct call *c)
{
	char err[512];
	struct mgr_job *j = mgr_job_new(c->m, c->vm, MGR_VERB_MIGRATE);
	if (!j)
		return no_memory(c->r);
	int e = peer_migrate_parse(c->body, c->len, &j->arg.migrate, err, sizeof(err));
	if (!e && !c->m->tls)
		e = error_set(err, sizeof(err), -EINVAL, "this petreld has no certificates: start it with --tls-dir");
	if (e < 0) {
		mgr_job_free(j);
		return mgr_answer_fault(c->r, e == -EINVAL ? 400 : mgr_status_of(e), err);
	}
	return run_job(c, j);
}

static enum api_result migration(struct call *c)
{
	return migration_status_route(c->m, c->vm, c->method, c->r, c->done, c->opaque);
}

/* /vms/NAME/replica[/VERB] (replica.c) */
static enum api_result replica(struct call *c)
{
	json_t *args = NULL;
	enum mgr_verb verb = replica_route(c->m, c->vm, c->method, c->rest, c->body, c->len, &args, c->r);
	if (verb == MGR_VERB_NONE)
		return API_DONE;
	struct mgr_job *j = mgr_job_new(c->m, c->vm, verb);
	if (!j) {
		json_decref(args);
		return no_memory(c->r);
	}
	j->arg.replica = args;
	return run_job(c, j);
}

/* /vms/NAME/guest/... (guest.c): its guest agent, through its worker */
static enum api_result guest(struct call *c)
{
	return guest_route(c->m, c->vm, c->method, c->rest, c->body, c->len, c->r, c->done, c->opaque);
}

/* POST /vms/NAME/clone {"snapshot", "count", "prefix", "start", "net"} (clone.c),
 * POST /vms/NAME/restore {"backup"} (restore.c). */
static enum api_result clone_or_restore(struct call *c, bool clone)
{
	char err[512];
	enum api_result res;
	struct mgr_job *j = new_job(c, clone ? MGR_VERB_CLONE : MGR_VERB_RESTORE, &res);
	if (!j)
		return res;
	int e = clone ? vmclone_prepare(c->m, c->vm, c->body, c->len, &j->arg.clone, err, sizeof(err))
		      : vmrestore_parse(c->body, c->len, j->arg.name, err, sizeof(err));
	char dir[PATH_MAX];   /* a backup job's backup too */
	if (!e && !clone && backup_jobs_find_backup(c->m, c->vm->def.name, j->arg.name, dir, sizeof(dir)) == 0 &&
	    !(j->backup_dir = strdup(dir)))
		e = error_set(err, sizeof(err), -ENOMEM, "out of memory");
	if (!e && !clone)
		e = vmrestore_check(c->m, c->vm, j->arg.name, j->backup_dir, err, sizeof(err));
	if (e < 0) {
		mgr_job_free(j);
		return mgr_answer_fault(c->r, e == -ENOENT ? 404 : mgr_status_of(e), err);
	}
	return run_job(c, j);
}

static enum api_result post_clone(struct call *c)
{
	return clone_or_restore(c, true);
}

static enum api_result post_restore(struct call *c)
{
	return clone_or_restore(c, false);
}

static enum api_result get_snapshots(struct call *c)
{
	return mgr_answer_json(c->r, 200, vmsnap_list(c->m, c->vm));
}

static enum api_result post_snapshot(struct call *c)
{
	return consistent_job(c, MGR_VERB_SNAPSHOT);
}

static enum api_result delete_snapshot(struct call *c)
{
	char err[512];
	if (c->vm->job)
		return mgr_answer_fault(c->r, 409, "the VM is busy");
	int e = vmsnap_delete(c->m, c->vm, c->star, err, sizeof(err));
	if (e < 0)
		return mgr_answer_fault(c->r, e == -ENOENT ? 404 : mgr_status_of(e), err);
	c->r->status = 204;
	return API_DONE;
}

static enum api_result post_revert(struct call *c)
{
	if (!mgr_vm_has_snapshot(c->m, c->vm->def.name, c->star))
		return mgr_answer_fault(c->r, 404, "no such snapshot");
	enum api_result res;
	struct mgr_job *j = new_job(c, MGR_VERB_REVERT, &res);
	if (!j)
		return res;
	snprintf(j->arg.name, sizeof(j->arg.name), "%.64s", c->star);
	return run_job(c, j);
}

/* POST /vms/NAME/{start,shutdown,destroy,reboot,pause,resume}: the job checks the VM's state. */
static enum api_result lifecycle_job(struct call *c, enum mgr_verb verb)
{
	struct mgr_job *j = mgr_job_new(c->m, c->vm, verb);
	return j ? run_job(c, j) : no_memory(c->r);
}

#define LIFECYCLE(verb, VERB)                                                                                 \
	static enum api_result post_##verb(struct call *c)                                                   \
	{                                                                                                     \
		return lifecycle_job(c, MGR_VERB_##VERB);                                                    \
	}
LIFECYCLE(start, START)
LIFECYCLE(shutdown, SHUTDOWN)
LIFECYCLE(destroy, DESTROY)
LIFECYCLE(reboot, REBOOT)
LIFECYCLE(pause, PAUSE)
LIFECYCLE(resume, RESUME)

#define NO_SNAPSHOT "no such snapshot: a name is 1 to 64 of [A-Za-z0-9-]"

static const struct route vm_routes[] = {
	{ "", .get = get_vm, .del = delete_vm },
	{ "definition", .get = get_definition },
	{ "resources", .get = get_resources, .put = put_resources, .patch = put_resources },
	{ "console", .get = get_console, .post = post_console },
	{ "machine", .patch = patch_machine },
	{ "backups", .get = get_backups },
	{ "backups/*/verify", .post = post_verify, .star_fault = "no such backup: a name is 1 to 64 of [A-Za-z0-9-]" },
	{ "backup", .post = post_backup },
	{ "migrate", .post = post_migrate },
	{ "migration", .any = migration },                   /* migration_status.c */
	{ "replica", .any = replica, .subtree = true },      /* replica.c */
	{ "guest", .any = guest, .subtree = true },          /* guest.c */
	{ "clone", .post = post_clone },
	{ "restore", .post = post_restore },
	{ "snapshots", .get = get_snapshots, .post = post_snapshot },
	{ "snapshots/*", .del = delete_snapshot, .star_fault = NO_SNAPSHOT },
	{ "snapshots/*/revert", .post = post_revert, .star_fault = NO_SNAPSHOT },
	{ "start", .post = post_start },
	{ "shutdown", .post = post_shutdown },
	{ "destroy", .post = post_destroy },
	{ "reboot", .post = post_reboot },
	{ "pause", .post = post_pause },
	{ "resume", .post = post_resume },
};

/* /vms/NAME[/...]: the VM, then its route (m->lock held). */
static enum api_result vm_route(struct call *c)
{
	char name[VM_NAME_MAX + 2];
	size_t n = route_path_name(c->rest, name);
	if (!n)
		return mgr_answer_fault(c->r, 404, "no such VM: a name is 1 to 64 of [A-Za-z0-9-]");
	if (!(c->vm = mgr_vm_find(c->m, name))) {
		char msg[128];
		snprintf(msg, sizeof(msg), "no VM named '%s'", name);
		return mgr_answer_fault(c->r, 404, msg);
	}
	if (c->rest[n] == '/' && !c->rest[n + 1])
		return mgr_answer_fault(c->r, 404, "unknown path");   /* "/vms/NAME/" is not "/vms/NAME" */
	const char *sub = c->rest + n + (c->rest[n] == '/');
	enum api_result res;
	const struct route *rt = route_find(vm_routes, sizeof(vm_routes) / sizeof(vm_routes[0]), sub, c, &res);
	return rt ? route_dispatch(rt, c) : res;
}

static enum api_result handle(void *ctx, const char *method, const char *path, const char *body, size_t len,
			      struct api_response *r, api_done_fn done, void *opaque)
{
	struct manager *m = ctx;
	r->status = 500;
	r->body = NULL;
	if (!done)
		return mgr_answer_fault(r, 500, "no way to answer later");
	/* The web page's routes, and the gate for every request (web.h, web_gate.c): who asks
	 * (api_request_principal), and for browsers their session, CSRF token, Origin and Host. */
	enum api_result res;
	if (web_route(m, method, path, body, len, r, opaque, &res, done))
		return res;
	char why[300];
	const struct api_principal *who = api_request_principal(opaque);
	unsigned denied = auth_check(m, who, method, path, why, sizeof(why));
	if (denied)
		return mgr_answer_fault(r, denied, why);
	struct call c = { .m = m, .method = method, .path = path, .body = body, .len = len, .who = who, .r = r,
			  .done = done, .opaque = opaque };
	const struct route *rt = path[0] == '/'
		? route_find(service_routes, sizeof(service_routes) / sizeof(service_routes[0]), path + 1, &c, &res) : NULL;
	if (!rt)
		return path[0] == '/' ? res : mgr_answer_fault(r, 404, "unknown path");
	if (rt->unlocked)
		return route_dispatch(rt, &c);
	pthread_mutex_lock(&m->lock);
	res = route_dispatch(rt, &c);
	pthread_mutex_unlock(&m->lock);
	return res;
}

int mgr_api_start(struct manager *m, struct api_server **out)
{
	int e = api_server_start_handler(out, handle, m, m->socket_path, DEF_MAX_BYTES);
	if (e < 0)
		return e;
	/* root and the petrel group (or --socket-group's) only */
	const char *name = m->socket_group ? m->socket_group : "petrel";
	struct group *g = getgrnam(name);
	if (!g && m->socket_group) {
		fprintf(stderr, "petreld: --socket-group: no group named '%s'\n", name);
		api_server_stop(*out);
		*out = NULL;
		unlink(m->socket_path);
		return -ENOENT;
	}
	if (g && chown(m->socket_path, 0, g->gr_gid) < 0)
		fprintf(stderr, "petreld: cannot give %s to group %s: %m\n", m->socket_path, name);
	chmod(m->socket_path, 0660);
	return 0;
}
