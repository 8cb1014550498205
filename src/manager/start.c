/* Starting a VM's worker for the verbs (start.h): a boot (start, restart, reboot, autostart,
 * a primary's first start), or a start from a saved state (revert, restore, a clone's first
 * start): the definition read again, its files checked, the worker started (worker.c) as the
 * start needs it, the VM's state and events. Below the verbs, above the worker. */
#include "manager/start.h"
#include "manager/cloudinit/ci_def.h"
#include "manager/definitions.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/jail_fill.h"
#include "manager/mgr.h"
#include "manager/runstate.h"
#include "manager/worker.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int start(struct manager *m, struct mgr_vm *vm, const struct worker_start *how, const char *event, char *err,
		 size_t errlen)
{
	/* A definition edited by hand takes effect now, if it is still valid; if not, the start
	 * is refused and the definition petreld holds stays. */
	struct vm_def fresh;
	int e = mgr_load_definition(m, vm->def.name, &fresh, err, errlen);
	if (e < 0 && e != -ENOENT) {
		char why[400];
		snprintf(why, sizeof(why), "%s", err);
		return error_set(err, errlen, -EINVAL, "the definition file was changed and is not valid: %s", why);
	}
	pthread_mutex_lock(&m->lock);
	bool vars_made = false;
	if (e == 0 && (e = mgr_def_files_ready(m, &fresh, &vars_made, err, errlen)) < 0) {
		pthread_mutex_unlock(&m->lock);
		def_free(&fresh);
		return e;
	}
	if (e == 0) {
		def_free(&vm->def);
		vm->def = fresh;
	} else if ((e = mgr_def_files_ready(m, &vm->def, &vars_made, err, errlen)) < 0) {
		pthread_mutex_unlock(&m->lock);
		return e;
	}
	if (vars_made)   /* removed by hand since the define: the VM's variables start again */
		mgr_vm_log(m, vm->def.name, "its variables file was missing: made again from %s", m->vars_template);
	enum mgr_vm_state before = vm->state;
	vm->state = VM_STARTING;
	vm->restart_due = false;
	pthread_mutex_unlock(&m->lock);
	e = worker_start(m, vm, how, err, errlen);
	pthread_mutex_lock(&m->lock);
	if (e < 0) {
		vm->state = before == VM_CRASHED ? VM_CRASHED : VM_SHUTOFF;
		mgr_event_emit(m, vm->def.name, "start failed", json_pack("{s:s}", "reason", err));
	} else {
		vm->state = VM_RUNNING;
		vm->started_at = time(NULL);
		if (!strcmp(event, "restarted"))
			vm->restarts++;
		runstate_save(m, vm);
		mgr_event_emit(m, vm->def.name, event,
			   json_pack("{s:i, s:i}", "pid", (int)vm->pid, "restarts", (int)vm->restarts));
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

/* The definition's drives and taps as the overrides of a snapshot load (load: its body). */
static void restore_overrides(json_t *load, json_t *fc)
{
	/* The saved state names the disks and taps as they were when it was taken (a template's,
	 * a jail's /backup/...): the worker uses the definition's, as laid out now. */
	json_t *drives = json_array(), *nets = json_array();
	size_t i;
	json_t *el;
	json_array_foreach(json_object_get(fc, "drives"), i, el) {
		json_t *o = json_pack("{s:O, s:O}", "drive_id", json_object_get(el, "drive_id"), "path_on_host",
				      json_object_get(el, "path_on_host"));
		if (o && json_is_string(json_object_get(el, "format")))
			json_object_set(o, "format", json_object_get(el, "format"));
		json_array_append_new(drives, o);
	}
	json_array_foreach(json_object_get(fc, "network-interfaces"), i, el)
		json_array_append_new(nets, json_pack("{s:O, s:O}", "iface_id", json_object_get(el, "iface_id"),
						      "host_dev_name", json_object_get(el, "host_dev_name")));
	json_object_set_new(load, "drive_overrides", drives);
	json_object_set_new(load, "network_overrides", nets);
}

/* The snapshot (directory data) into the jail, beside the definition's files. */
static int snapshot_into_jail(struct manager *m, struct mgr_vm *vm, const char *root, void *data, char *err,
			      size_t errlen)
{
	return jail_put_snapshot(vm, data, root, err, errlen);
}

/* A state saved before the VM had a cloud-init section has no seed drive: its override (the
 * seed ci_drive_attach added to fc) would be refused ("the snapshot has no drive 'cidata'").
 * The state's definition (dir/meta.json) says; without one, the override stays. */
static void drop_unsaved_seed(const char *dir, json_t *load)
{
	char *text = NULL, err[256];
	if (defs_read(dir, "meta.json", &text, err, sizeof(err)) < 0)
		return;
	json_t *meta = json_loads(text, 0, NULL);
	free(text);
	json_t *def = json_object_get(meta, "definition");
	json_t *drives = json_object_get(load, "drive_overrides");
	size_t i;
	json_t *d;
	if (json_is_object(def) && !ci_section(def))
		json_array_foreach(drives, i, d)
			if (json_is_string(json_object_get(d, "drive_id")) &&
			    !strcmp(json_string_value(json_object_get(d, "drive_id")), CI_DRIVE_ID)) {
				json_array_remove(drives, i);
				break;
			}
	json_decref(meta);
}

/* PUT /snapshot/load of the snapshot (directory data) on the definition's disks and taps. */
static int snapshot_load(struct manager *m, struct mgr_vm *vm, json_t *fc, void *data, json_t **body, char *err,
			 size_t errlen)
{
	const char *dir = data;
	char st[PATH_MAX + 16], mem[PATH_MAX + 16];
	snprintf(st, sizeof(st), "%s/vm.state", m->jailer ? "" : dir);
	snprintf(mem, sizeof(mem), "%s/vm.mem", m->jailer ? "" : dir);
	*body = json_pack("{s:s, s:{s:s, s:s}, s:b}", "snapshot_path", st, "mem_backend", "backend_type", "File",
			  "backend_path", mem, "resume_vm", 1);
	restore_overrides(*body, fc);
	drop_unsaved_seed(dir, *body);
	return 0;
}

int start_boot(struct manager *m, struct mgr_vm *vm, bool restart, char *err, size_t errlen)
{
	static const struct worker_start boot = { .mode = WORKER_BOOT };
	return start(m, vm, &boot, restart ? "restarted" : "started", err, errlen);
}

int start_restore(struct manager *m, struct mgr_vm *vm, const char *dir, const char *event, char *err, size_t errlen)
{
	const struct worker_start how = { .mode = WORKER_RESTORE, .fill_jail = snapshot_into_jail,
					  .action = snapshot_load, .data = (void *)dir };
	return start(m, vm, &how, event, err, errlen);
}
