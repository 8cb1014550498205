/* The lifecycle verbs beyond a start (start.c): shutdown (the guest agent or Ctrl-Alt-Del, then destroy after a
 * timeout), reboot, pause and resume, each through the VM's worker. Run as jobs (jobs.c). */
#include "manager/lifecycle.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/runstate.h"
#include "manager/start.h"
#include "manager/wclient.h"
#include "manager/worker.h"

#include <stdbool.h>

int lifecycle_shutdown(struct manager *m, struct mgr_vm *vm, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	vm->stopping = true;
	pthread_mutex_unlock(&m->lock);
	/* petrel.shutdown "agent": the guest agent's guest-shutdown first; Ctrl-Alt-Del when the
	 * agent refuses or does not answer (docs/guest-agent.md) */
	int e = -1;
	json_t *b;
	if (vm->def.shutdown_agent) {
		b = json_pack("{s:s}", "mode", "powerdown");
		e = worker_call(m, vm, "PUT", "/guest/shutdown", b, err, errlen);
		json_decref(b);
		if (e < 0)
			mgr_vm_log(m, vm->def.name, "shutdown: the guest agent: %s; sending Ctrl-Alt-Del", err);
	}
	if (e < 0) {
		b = json_pack("{s:s}", "action_type", "SendCtrlAltDel");
		e = worker_call(m, vm, "PUT", "/actions", b, err, errlen);
		json_decref(b);
	}
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

int lifecycle_pause(struct manager *m, struct mgr_vm *vm, bool pause, char *err, size_t errlen)
{
	json_t *b = json_pack("{s:s}", "state", pause ? "Paused" : "Resumed");
	int e = worker_call(m, vm, "PATCH", "/vm", b, err, errlen);
	json_decref(b);
	if (e < 0)
		return e;
	pthread_mutex_lock(&m->lock);
	vm->state = pause ? VM_PAUSED : VM_RUNNING;
	runstate_save(m, vm);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int lifecycle_reboot(struct manager *m, struct mgr_vm *vm, char *err, size_t errlen)
{
	lifecycle_shutdown(m, vm, err, errlen);
	return start_boot(m, vm, false, err, errlen);
}
