/* What a later petreld needs to find a running VM's worker again: <state dir>/run/<name>.json
 * with the worker's pid and start time (so a reused pid is never taken for the VM), petrel's
 * own pid, its API socket and jail, the taps petreld made for it. Written (atomically) when a
 * VM starts or changes state. */
#include "manager/runstate.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "http/client.h"
#include "manager/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int runstate_save(struct manager *m, struct mgr_vm *vm)
{
	char dir[PATH_MAX], err[256];
	snprintf(dir, sizeof(dir), "%s/run", m->state_dir);
	/* A replicated VM's part too: a standby re-adopted must wait on as a standby, never be
	 * taken for a running VM (nor restarted as one by its policy). */
	json_t *o = json_pack("{s:i, s:I, s:i, s:s, s:s, s:s, s:I, s:i, s:s, s:O?, s:O?}", "pid", (int)vm->pid,
			      "start_time", (json_int_t)vm->start_time, "vmm_pid", (int)vm->vmm_pid,
			      "api_socket", vm->api_sock, "jail_dir", vm->jail_dir, "state",
			      mgr_vm_state_name(vm->state), "started_at", (json_int_t)vm->started_at,
			      "restarts", (int)vm->restarts, "replica", vm->replica == REPLICA_PRIMARY ? "primary"
			      : vm->replica == REPLICA_STANDBY ? "standby" : "none", "replica_args", vm->replica_args,
			      "taps", vm->taps);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	int e = text ? defs_write_atomic(dir, vm->def.name, text, err, sizeof(err)) : -ENOMEM;
	free(text);
	if (e < 0)
		mgr_vm_log(m, vm->def.name, "cannot save the run state: %s", err);
	return e;
}

void runstate_remove(struct manager *m, const char *name)
{
	char dir[PATH_MAX], err[256];
	snprintf(dir, sizeof(dir), "%s/run", m->state_dir);
	defs_remove(dir, name, err, sizeof(err));
}

int runstate_adopt(struct manager *m, struct mgr_vm *vm)
{
	char dir[PATH_MAX], file[VM_NAME_MAX + 8], err[256], *text = NULL;
	snprintf(dir, sizeof(dir), "%s/run", m->state_dir);
	snprintf(file, sizeof(file), "%s.json", vm->def.name);
	if (defs_read(dir, file, &text, err, sizeof(err)) < 0)
		return 0;
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	json_int_t pid = 0, vmm = 0, st = 0, started = 0, restarts = 0;
	const char *sock = "", *jail = "", *state = "", *replica = "none";
	json_t *rargs = NULL, *taps = NULL;
	int r = o ? json_unpack(o, "{s:I, s:I, s:I, s:s, s:s, s:s, s?I, s?I, s?s, s?o, s?o}", "pid", &pid, "start_time",
				&st, "vmm_pid", &vmm, "api_socket", &sock, "jail_dir", &jail, "state", &state,
				"started_at", &started, "restarts", &restarts, "replica", &replica, "replica_args", &rargs,
				"taps", &taps)
		      : -1;
	enum mgr_vm_state saved = !strcmp(state, "paused") ? VM_PAUSED : !strcmp(state, "standby") ? VM_STANDBY : VM_RUNNING;
	enum replica_role role = !strcmp(replica, "primary") ? REPLICA_PRIMARY
				 : !strcmp(replica, "standby") || saved == VM_STANDBY ? REPLICA_STANDBY : REPLICA_NONE;
	if (r == 0) {
		snprintf(vm->api_sock, sizeof(vm->api_sock), "%s", sock);
		snprintf(vm->jail_dir, sizeof(vm->jail_dir), "%s", jail);
		json_decref(vm->replica_args);
		vm->replica_args = json_is_object(rargs) ? json_incref(rargs) : NULL;
		vm->replica = role;   /* also when it died: no restart policy boots a second copy */
		json_decref(vm->taps);   /* its taps: removed when it ends, or now when it has ended */
		vm->taps = json_is_array(taps) ? json_incref(taps) : NULL;
	}
	json_decref(o);
	if (r < 0 || pid <= 0 || st <= 0)
		return -ESRCH;
	vm->pid = (pid_t)pid;
	vm->vmm_pid = (pid_t)vmm;
	vm->start_time = (unsigned long long)st;
	vm->started_at = started;
	vm->restarts = (unsigned)restarts;
	vm->last_exit = -1;
	int fd = (int)syscall(SYS_pidfd_open, vm->pid, 0);
	/* The pidfd first, then the start time: a worker that ends between the two is seen
	 * through its pidfd, and a pid reused by another process fails the comparison. */
	if (fd < 0 || proc_start_time(vm->pid) != vm->start_time) {
		if (fd >= 0)
			close(fd);
		vm->pid = 0;
		return -ESRCH;
	}
	vm->pidfd = fd;
	vm->state = saved;
	return 1;
}

int runstate_ask(struct manager *m, const char *sock)
{
	char *reply = NULL;
	int st = -EIO;
	if (uhttp_request(sock, "GET", "/", NULL, m->api_timeout_ms, &reply) == 200 && reply) {
		json_t *info = json_loads(reply, 0, NULL);
		const char *s = json_string_value(json_object_get(info, "state"));
		if (s)
			st = !strcmp(s, "Paused") ? VM_PAUSED : VM_RUNNING;
		json_decref(info);
	}
	free(reply);
	return st;
}
