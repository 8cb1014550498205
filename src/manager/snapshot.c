/* A VM's snapshots, through petrel's own (docs/snapshots.md): <snapshot dir>/<vm>/<name>/ holds
 * vm.state, vm.mem and meta.json. Create pauses a running VM (its worker does, around its guest
 * agent's freeze, when the VM has one: docs/guest-agent.md), has its worker write a Full
 * snapshot (into its jail, from where petreld moves the files out: the jail goes with the
 * worker) and resumes it. Revert replaces the VM's worker (if any) with a new one that loads the
 * snapshot; the disks are not part of a snapshot and stay as they are. */
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/mgr.h"
#include "manager/start.h"
#include "manager/verbs.h"
#include "manager/wclient.h"
#include "manager/worker.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int vmsnap_create(struct manager *m, struct mgr_vm *vm, const char *snap, const char *consistency, char *err,
		  size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 16];
	if (mgr_vm_snapshot_dir(m, vm->def.name, snap, dir, sizeof(dir)) < 0)
		return error_set(err, errlen, -ENAMETOOLONG, "snapshot directory path too long");
	if (access(dir, F_OK) == 0)
		return error_set(err, errlen, -EEXIST, "VM '%s' already has a snapshot '%s'", vm->def.name, snap);
	snprintf(tmp, sizeof(tmp), "%s.partial", dir);
	rm_tree(tmp);
	char parent[PATH_MAX];
	mgr_vm_snapshot_dir(m, vm->def.name, NULL, parent, sizeof(parent));
	if ((mkdir(m->snapshot_dir, 0750) < 0 && errno != EEXIST) || (mkdir(parent, 0750) < 0 && errno != EEXIST) ||
	    mkdir(tmp, 0750) < 0)
		return error_set(err, errlen, -errno, "cannot create %s: %s", tmp, strerror(errno));
	pthread_mutex_lock(&m->lock);
	bool was_running = vm->state == VM_RUNNING;
	pthread_mutex_unlock(&m->lock);
	/* A running VM with a guest agent (or a consistency asked for): the worker freezes its file
	 * systems, pauses, saves, resumes and thaws (docs/guest-agent.md); else petreld pauses it. */
	bool by_worker = was_running && (consistency[0] ? strcmp(consistency, "crash") : def_guest_agent(vm->def.doc));
	json_t *pause = json_pack("{s:s}", "state", "Paused");
	int e = was_running && !by_worker ? worker_call(m, vm, "PATCH", "/vm", pause, err, errlen) : 0;
	json_decref(pause);
	/* In a jail the worker writes into its root, which it owns; else straight into tmp. */
	char st[PATH_MAX + 32], mem[PATH_MAX + 32];
	snprintf(st, sizeof(st), "%s/vm.state", vm->jail_dir[0] ? "" : tmp);
	snprintf(mem, sizeof(mem), "%s/vm.mem", vm->jail_dir[0] ? "" : tmp);
	json_t *answer = NULL;
	if (!e) {
		json_t *b = json_pack("{s:s, s:s, s:s}", "snapshot_type", "Full", "snapshot_path", st,
				      "mem_file_path", mem);
		if (by_worker)
			json_object_set_new(b, "consistency", json_string(consistency[0] ? consistency : "auto"));
		e = worker_call_json(m, vm, "PUT", "/snapshot/create", b, &answer, err, errlen);
		json_decref(b);
	}
	if (!e && vm->jail_dir[0]) {
		const char *names[] = { "vm.state", "vm.mem" };
		for (int i = 0; i < 2 && !e; i++) {
			char from[PATH_MAX + 32], to[PATH_MAX + 32];
			snprintf(from, sizeof(from), "%s/root/%s", vm->jail_dir, names[i]);
			snprintf(to, sizeof(to), "%s/%s", tmp, names[i]);
			if ((e = move_file(from, to)) < 0)
				e = error_set(err, errlen, e, "cannot move %s out of the jail: %s", from, strerror(-e));
		}
	}
	if (was_running && !by_worker) {
		char ignore[256];
		json_t *resume = json_pack("{s:s}", "state", "Resumed");
		worker_call(m, vm, "PATCH", "/vm", resume, ignore, sizeof(ignore));
		json_decref(resume);
	}
	if (!e) {
		json_t *meta = json_pack("{s:s, s:I, s:s, s:O}", "name", snap, "created", (json_int_t)time(NULL),
					 "vm_state", was_running ? "running" : "paused", "definition", vm->def.doc);
		json_t *how = consistency_meta(answer);
		json_object_update(meta, how);
		json_decref(how);
		e = meta_dir_finish(tmp, dir, meta, err, errlen);
	} else {
		rm_tree(tmp);
	}
	json_decref(answer);
	return e;
}

int vmsnap_revert(struct manager *m, struct mgr_vm *vm, const char *snap, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (mgr_vm_snapshot_dir(m, vm->def.name, snap, dir, sizeof(dir)) < 0 || access(dir, F_OK) < 0)
		return error_set(err, errlen, -ENOENT, "VM '%s' has no snapshot '%s'", vm->def.name, snap);
	pthread_mutex_lock(&m->lock);
	bool up = vm->pid > 0;
	pthread_mutex_unlock(&m->lock);
	if (up)
		worker_kill(m, vm);
	return start_restore(m, vm, dir, "reverted", err, errlen);
}

int vmsnap_delete(struct manager *m, struct mgr_vm *vm, const char *snap, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (mgr_vm_snapshot_dir(m, vm->def.name, snap, dir, sizeof(dir)) < 0 || access(dir, F_OK) < 0)
		return error_set(err, errlen, -ENOENT, "VM '%s' has no snapshot '%s'", vm->def.name, snap);
	if (rm_tree(dir) < 0)
		return error_set(err, errlen, -errno, "cannot remove %s: %s", dir, strerror(errno));
	mgr_event_emit(m, vm->def.name, "snapshot deleted", json_pack("{s:s}", "snapshot", snap));
	return 0;
}

json_t *vmsnap_list(struct manager *m, struct mgr_vm *vm)
{
	char parent[PATH_MAX];
	if (mgr_vm_snapshot_dir(m, vm->def.name, NULL, parent, sizeof(parent)) < 0)
		return json_array();
	return meta_dirs_list(parent);
}
