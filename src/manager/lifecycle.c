/* The lifecycle verbs: start, shutdown (Ctrl-Alt-Del, then destroy after a timeout), destroy,
 * reboot, pause, resume. The API checks the state and marks the VM busy (lifecycle_begin);
 * the verb then runs on a thread of its own (lifecycle_async) and answers when done. */
#include "manager/events.h"
#include "manager/jobs.h"
#include "manager/mgr.h"
#include "manager/replica.h"
#include "manager/runstate.h"
#include "manager/start.h"
#include "manager/util.h"
#include "manager/verbs.h"
#include "manager/wclient.h"
#include "manager/worker.h"
#include "api/router.h"
#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static bool is_up(const struct mgr_vm *vm)
{
	return vm->state == VM_RUNNING || vm->state == VM_PAUSED || vm->state == VM_STARTING || vm->state == VM_STANDBY;
}

int lifecycle_begin(struct manager *m, struct mgr_vm *vm, const char *verb, char *err, size_t errlen)
{
	if (vm->busy)
		return error_set(err, errlen, -EBUSY, "VM '%s' is busy: %s in progress", vm->def.name, vm->busy);
	/* From any state: a running VM's worker is replaced (revert, restore); a clone's source
	 * may run (clone.c checks what it may); replica verbs: replica.c checked */
	if (!strcmp(verb, "revert") || !strcmp(verb, "restore") || !strcmp(verb, "clone") ||
	    !strncmp(verb, "replica-", 8)) {
		vm->busy = verb;
		return 0;
	}
	if (vm->state == VM_STANDBY && strcmp(verb, "destroy") && strcmp(verb, "shutdown"))
		return error_set(err, errlen, -EBUSY, "VM '%s' is a replication standby here: promote it (petrelctl replica "
			       "%s promote) or destroy it", vm->def.name, vm->def.name);
	bool start = !strcmp(verb, "start");
	if (start && is_up(vm))
		return error_set(err, errlen, -EBUSY, "VM '%s' is already %s", vm->def.name, mgr_vm_state_name(vm->state));
	if (!start && !is_up(vm))
		return error_set(err, errlen, -EBUSY, "VM '%s' is not running (%s)", vm->def.name, mgr_vm_state_name(vm->state));
	if (!strcmp(verb, "pause") && vm->state != VM_RUNNING)
		return error_set(err, errlen, -EBUSY, "VM '%s' is %s, not running", vm->def.name, mgr_vm_state_name(vm->state));
	if (!strcmp(verb, "resume") && vm->state != VM_PAUSED)
		return error_set(err, errlen, -EBUSY, "VM '%s' is %s, not paused", vm->def.name, mgr_vm_state_name(vm->state));
	vm->busy = verb;
	return 0;
}

static int do_shutdown(struct manager *m, struct mgr_vm *vm, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	vm->stopping = true;
	pthread_mutex_unlock(&m->lock);
	json_t *b = json_pack("{s:s}", "action_type", "SendCtrlAltDel");
	int e = worker_call(m, vm, "PUT", "/actions", b, err, errlen);
	json_decref(b);
	if (e < 0)
		mgr_vm_log(m, vm->def.name, "shutdown: %s; destroying it", err);
	if (e < 0 || !worker_wait_end(m, vm, m->shutdown_timeout_s * 1000)) {
		if (e == 0)
			mgr_vm_log(m, vm->def.name, "shutdown: still running after %u s; destroying it",
			       m->shutdown_timeout_s);
		worker_kill(m, vm);
	}
	return 0;
}

static int do_pause(struct manager *m, struct mgr_vm *vm, bool pause, char *err, size_t errlen)
{
	json_t *b = json_pack("{s:s}", "state", pause ? "Paused" : "Resumed");
	int e = worker_call(m, vm, "PATCH", "/vm", b, err, errlen);
	json_decref(b);
	if (e < 0)
		return e;
	pthread_mutex_lock(&m->lock);
	vm->state = pause ? VM_PAUSED : VM_RUNNING;
	runstate_save(m, vm);
	mgr_event_emit(m, vm->def.name, pause ? "paused" : "resumed", NULL);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int lifecycle_run(struct manager *m, struct mgr_vm *vm, const char *verb, char *err, size_t errlen)
{
	if (!strcmp(verb, "start"))
		return start_boot(m, vm, false, err, errlen);
	if (!strcmp(verb, "restart"))
		return start_boot(m, vm, true, err, errlen);
	if (!strcmp(verb, "snapshot"))
		return vmsnap_create(m, vm, vm->verb_arg, err, errlen);
	if (!strcmp(verb, "backup"))
		return vmbackup_create(m, vm, vm->verb_arg, err, errlen);
	if (!strcmp(verb, "machine"))
		return machine_apply(m, vm, vm->want_vcpus, vm->want_mem_mib, err, errlen);
	if (!strcmp(verb, "revert"))
		return vmsnap_revert(m, vm, vm->verb_arg, err, errlen);
	if (!strcmp(verb, "clone"))
		return vmclone_run(m, vm, err, errlen);
	if (!strcmp(verb, "restore"))
		return vmrestore_run(m, vm, vm->verb_arg, err, errlen);
	if (!strcmp(verb, "shutdown"))
		return do_shutdown(m, vm, err, errlen);
	if (!strncmp(verb, "replica-", 8))
		return replica_run(m, vm, verb, err, errlen);
	if (!strcmp(verb, "destroy")) {
		worker_kill(m, vm);
		return 0;
	}
	if (!strcmp(verb, "reboot")) {
		do_shutdown(m, vm, err, errlen);
		return start_boot(m, vm, false, err, errlen);
	}
	if (!strcmp(verb, "pause") || !strcmp(verb, "resume"))
		return do_pause(m, vm, verb[0] == 'p', err, errlen);
	return error_set(err, errlen, -EINVAL, "unknown verb '%s'", verb);
}

struct async {
	struct manager *m;
	struct mgr_vm *vm;
	const char *verb;
	api_done_fn done;
	void *opaque;
};


static void *async_thread(void *arg)
{
	struct async *a = arg;
	struct manager *m = a->m;
	char err[512] = "";
	int e = lifecycle_run(m, a->vm, a->verb, err, sizeof(err));
	struct api_response r = { 0 };
	pthread_mutex_lock(&m->lock);
	a->vm->busy = NULL;
	if (e < 0)
		api_response_fault(&r, mgr_status_of(e), "%s: %s", a->verb, err);
	else {
		json_t *o = a->vm->verb_result ? a->vm->verb_result : mgr_vm_to_json(m, a->vm);
		a->vm->verb_result = NULL;
		char *text = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		r.status = 200;
		r.body = text;
	}
	pthread_mutex_unlock(&m->lock);
	a->done(a->opaque, &r);
	free(a);
	return NULL;
}

int lifecycle_async(struct manager *m, struct mgr_vm *vm, const char *verb, api_done_fn done, void *opaque)
{
	struct async *a = malloc(sizeof(*a));
	if (!a)
		return -ENOMEM;
	*a = (struct async){ m, vm, verb, done, opaque };
	int e = mgr_detached(async_thread, a);
	if (e < 0)
		free(a);
	return e;
}

void lifecycle_autostart(struct manager *m)
{
	pthread_mutex_lock(&m->lock);
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (vm->def.autostart && vm->state == VM_SHUTOFF && !vm->busy) {
			vm->restart_due = vm->autostart_due = true; /* the supervisor starts it at once */
			vm->restart_at_ms = 0;
		}
	pthread_mutex_unlock(&m->lock);
}
