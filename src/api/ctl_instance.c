/* The instance: GET / (its id and state), PUT /actions' SendCtrlAltDel and PATCH /vm (pausing
 * and resuming: checked here, done on the worker). InstanceStart is the core's (core.c).
 * See controller.h. */
#include "api/core.h"
#include "api/version.h"
#include "util/event_monitor.h"
#include "util/util.h"
#include "vm/vm.h"

#include <string.h>

json_t *ctl_instance_info(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", ctl->id, "state",
			      instance_state_name(ctl->state), "vmm_version", FC_COMPAT_VERSION,
			      "app_name", "petrel");
	pthread_mutex_unlock(&ctl->lock);
	return o;
}

int ctl_send_ctrl_alt_del(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r;
	if (!started(ctl))
		r = error_set(err, errlen, -EINVAL, "SendCtrlAltDel needs a running microVM (%s)",
			      ctl->state == INSTANCE_STOPPED ? "it has stopped" : "it has not started");
	else if (vm_send_ctrl_alt_del(ctl->vm) < 0)
		r = error_set(err, errlen, -EINVAL,
			      "the guest keyboard buffer is full (the guest is not reading the i8042)");
	else
		r = 0;
	pthread_mutex_unlock(&ctl->lock);
	if (r == 0)
		log_info("sent Ctrl-Alt-Del to the guest");
	return r;
}

int ctl_check_vm_state_change(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	/* Before the start in Firecracker's words (its clients may match them). */
	int r = started(ctl) ? 0
		: ctl->state == INSTANCE_STOPPED
		? error_set(err, errlen, -EINVAL, "the microVM is not running (it has stopped)")
		: error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	if (r == 0 && ctl_migration_active(ctl))
		r = error_set(err, errlen, -EBUSY, "a live migration is in progress (GET /migration)");
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

/* PATCH /vm: vm_pause waits for every vCPU to leave KVM_RUN, the reason this runs on the
 * worker and not on the API thread. */
int ctl_pause_resume(struct controller *ctl, bool pause, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	if (!started(ctl)) {
		pthread_mutex_unlock(&ctl->lock);
		return error_set(err, errlen, -EINVAL, "the microVM is not running");
	}
	struct vm *vm = ctl->vm;
	pthread_mutex_unlock(&ctl->lock);
	uint64_t t0 = now_ns();
	vm_pause_exclusive(vm);
	/* Checked at the request, and again now: a migration started in between owns pausing
	 * (a replication checkpoint holds vm_pause_exclusive while it pauses and resumes). */
	pthread_mutex_lock(&ctl->lock);
	bool migrating = ctl_migration_active(ctl);
	pthread_mutex_unlock(&ctl->lock);
	if (migrating) {
		vm_pause_release(vm);
		return error_set(err, errlen, -EBUSY, "a live migration is in progress (GET /migration)");
	}
	int r = pause ? vm_pause(vm) : vm_resume(vm);
	vm_pause_release(vm);
	if (r == 0)
		ctl_note_latency(ctl, pause ? LAT_PAUSE_VM : LAT_RESUME_VM, t0);
	pthread_mutex_lock(&ctl->lock);
	if (r == 0 && started(ctl))
		ctl->state = pause ? INSTANCE_PAUSED : INSTANCE_RUNNING;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return error_set(err, errlen, -EINVAL, "the microVM is shutting down");
	log_info("microVM %s", pause ? "paused" : "resumed");
	event_emit("vm", pause ? "paused" : "resumed", NULL);
	return 0;
}
