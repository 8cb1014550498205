/* The jobs (jobs.h): every verb petreld runs on a VM, in one table: its name (the listing's
 * "operation", the fault's prefix), the states it may begin in, the function that runs it and
 * the event that announces its success. A route parses the request into the job's typed
 * arguments and begins it (the VM's state checked, the VM marked busy, m->lock held); the job
 * then runs on a thread of its own and answers through done. The models: libvirt's domain jobs
 * (one job per VM, begun against the VM's state), systemd's Operation (the answer when done). */
#include "manager/jobs.h"
#include "manager/events.h"
#include "manager/lifecycle.h"
#include "manager/mgr.h"
#include "manager/peer/peer.h"
#include "manager/replica.h"
#include "manager/start.h"
#include "manager/util.h"
#include "manager/verbs.h"
#include "manager/worker.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

static int run_start(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return start_boot(m, vm, false, err, errlen);
}

static int run_shutdown(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return lifecycle_shutdown(m, vm, err, errlen);
}

static int run_destroy(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	worker_kill(m, vm);
	return 0;
}

static int run_reboot(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return lifecycle_reboot(m, vm, err, errlen);
}

static int run_pause(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return lifecycle_pause(m, vm, j->verb == MGR_VERB_PAUSE, err, errlen);
}

static int run_snapshot(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	int e = vmsnap_create(m, vm, j->arg.name, j->consistency, err, errlen);
	if (e == 0)
		j->event_extra = json_pack("{s:s}", "snapshot", j->arg.name);
	return e;
}

static int run_revert(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return vmsnap_revert(m, vm, j->arg.name, err, errlen);
}

static int run_backup(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	/* The one call of the backup verb: the API's backups and the backup jobs' (backup_jobs.c). */
	int e = vmbackup_create(m, vm, j->arg.name, j->consistency, j->target, &j->bmode, err, errlen);
	char dir[PATH_MAX];
	if (e == 0 && vmbackup_parent_dir(m, vm->def.name, j->target, dir, sizeof(dir)) == 0)
		j->event_extra = json_pack("{s:s, s:s++}", "backup", j->arg.name, "dir", dir, "/", j->arg.name);
	return e;
}

static int run_restore(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return vmrestore_run(m, vm, j->arg.name, j->backup_dir, err, errlen);
}

static int run_machine(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	int e = machine_apply(m, vm, j->arg.machine.vcpus, j->arg.machine.mem_mib, err, errlen);
	if (e == 0)
		j->event_extra = json_pack("{s:i, s:i}", "vcpu_count", (int)j->arg.machine.vcpus, "memory_mib",
					   (int)j->arg.machine.mem_mib);
	return e;
}

static int run_clone(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return vmclone_run(m, vm, j->arg.clone, &j->result, err, errlen);
}

static int run_replica(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return j->verb == MGR_VERB_REPLICA_STANDBY   ? replica_standby(m, vm, j->arg.replica, err, errlen)
	       : j->verb == MGR_VERB_REPLICA_PRIMARY ? replica_primary(m, vm, j->arg.replica, err, errlen)
						     : replica_promote(m, vm, j->arg.replica, err, errlen);
}

static int run_migrate(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen)
{
	return peer_migrate_run(m, vm, &j->arg.migrate, &j->result, err, errlen);
}

#define ST(s) (1u << (s))
#define UP (ST(VM_RUNNING) | ST(VM_PAUSED) | ST(VM_STARTING))

static const struct verb {
	const char *name;
	/* The states it may begin in; 0: any (its route checked what it needs: a revert or a
	 * restore replaces a running worker, a clone's source may run, replica.c checks its own).
	 * refusal: the fault when the VM is up but in none of them (its name, its state). */
	unsigned states;
	const char *refusal;
	int (*run)(struct manager *m, struct mgr_vm *vm, struct mgr_job *j, char *err, size_t errlen);
	/* announces its success (with the job's event_extra); NULL: the verb announces its own
	 * (a start, a clone's, a replication's, a migration's, which may also fail: start.c, ...) */
	const char *event;
	/* Its own answer instead of the VM or "VERB: fault" (m->lock held, the VM no longer busy);
	 * true when the VM left the inventory (it is freed once answered). */
	bool (*finish)(const struct mgr_job *j, int e, const char *err, struct api_response *r);
} verbs[MGR_VERB_COUNT] = {
	[MGR_VERB_START] = { "start", ST(VM_SHUTOFF) | ST(VM_CRASHED), "VM '%s' is already %s", run_start },
	[MGR_VERB_SHUTDOWN] = { "shutdown", UP | ST(VM_STANDBY), NULL, run_shutdown },
	[MGR_VERB_DESTROY] = { "destroy", UP | ST(VM_STANDBY), NULL, run_destroy },
	[MGR_VERB_REBOOT] = { "reboot", UP, NULL, run_reboot },
	[MGR_VERB_PAUSE] = { "pause", ST(VM_RUNNING), "VM '%s' is %s, not running", run_pause, "paused" },
	[MGR_VERB_RESUME] = { "resume", ST(VM_PAUSED), "VM '%s' is %s, not paused", run_pause, "resumed" },
	[MGR_VERB_SNAPSHOT] = { "snapshot", UP, NULL, run_snapshot, "snapshot created" },
	[MGR_VERB_REVERT] = { "revert", 0, NULL, run_revert },
	[MGR_VERB_BACKUP] = { "backup", UP, NULL, run_backup, "backup created" },
	[MGR_VERB_RESTORE] = { "restore", 0, NULL, run_restore },
	[MGR_VERB_MACHINE] = { "machine", UP, NULL, run_machine, "machine changed" },
	[MGR_VERB_CLONE] = { "clone", 0, NULL, run_clone },
	[MGR_VERB_REPLICA_STANDBY] = { "replica-standby", 0, NULL, run_replica },
	[MGR_VERB_REPLICA_PRIMARY] = { "replica-primary", 0, NULL, run_replica },
	[MGR_VERB_REPLICA_PROMOTE] = { "replica-promote", 0, NULL, run_replica },
	[MGR_VERB_MIGRATE] = { "migrate", ST(VM_RUNNING) | ST(VM_PAUSED), "VM '%s' is %s", run_migrate, NULL,
			       peer_migrate_finish },
};

struct mgr_job *mgr_job_new(struct manager *m, struct mgr_vm *vm, enum mgr_verb verb)
{
	struct mgr_job *j = calloc(1, sizeof(*j));
	if (j)
		*j = (struct mgr_job){ .verb = verb, .m = m, .vm = vm, .name = verbs[verb].name };
	return j;
}

void mgr_job_free(struct mgr_job *j)
{
	if (!j)
		return;
	if (j->verb == MGR_VERB_CLONE)
		vmclone_free(j->arg.clone);
	else if (j->verb >= MGR_VERB_REPLICA_STANDBY && j->verb <= MGR_VERB_REPLICA_PROMOTE)
		json_decref(j->arg.replica);
	json_decref(j->result);
	json_decref(j->event_extra);
	free(j->backup_dir);
	free(j);
}

int jobs_begin(struct mgr_job *j, char *err, size_t errlen)
{
	struct mgr_vm *vm = j->vm;
	const struct verb *v = &verbs[j->verb];
	if (vm->job)
		return error_set(err, errlen, -EBUSY, "VM '%s' is busy: %s in progress", vm->def.name, vm->job->name);
	if (v->states && !(v->states & ST(vm->state))) {
		if (vm->state == VM_STANDBY)
			return error_set(err, errlen, -EBUSY, "VM '%s' is a replication standby here: promote it "
					 "(petrelctl replica %s promote) or destroy it", vm->def.name, vm->def.name);
		if (!(ST(vm->state) & (UP | ST(VM_STANDBY))))
			return error_set(err, errlen, -EBUSY, "VM '%s' is not running (%s)", vm->def.name,
					 mgr_vm_state_name(vm->state));
		return error_set(err, errlen, -EBUSY, v->refusal, vm->def.name, mgr_vm_state_name(vm->state));
	}
	vm->job = j;
	return 0;
}

void jobs_abandon(struct mgr_job *j)
{
	if (j->vm->job == j)
		j->vm->job = NULL;
	mgr_job_free(j);
}

static void *job_thread(void *arg)
{
	struct mgr_job *j = arg;
	struct manager *m = j->m;
	struct mgr_vm *vm = j->vm;
	const struct verb *v = &verbs[j->verb];
	char err[700] = "";
	/* the faults as they were: a migration's may be longer */
	int e = v->run(m, vm, j, err, v->finish ? sizeof(err) : 512);
	struct api_response r = { 0 };
	bool gone = false;
	pthread_mutex_lock(&m->lock);
	if (e == 0 && v->event) {
		mgr_event_emit(m, vm->def.name, v->event, j->event_extra);
		j->event_extra = NULL;
	}
	vm->job = NULL;
	if (v->finish) {
		gone = v->finish(j, e, err, &r);
	} else if (e < 0) {
		api_response_fault(&r, mgr_status_of(e), "%s: %s", v->name, err);
	} else {
		json_t *o = j->result ? j->result : mgr_vm_to_json(m, vm);
		j->result = NULL;
		char *text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		r.status = 200;
		r.body = text;
	}
	pthread_mutex_unlock(&m->lock);
	j->done(j->opaque, &r);
	if (gone)
		peer_free_vm_later(vm);
	mgr_job_free(j);
	return NULL;
}

int jobs_start(struct mgr_job *j, api_done_fn done, void *opaque)
{
	j->done = done;
	j->opaque = opaque;
	return mgr_detached(job_thread, j);
}
