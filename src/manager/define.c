/* A VM's definition through the API (define.h): POST /vms defines or redefines a VM (the
 * definition checked, a UEFI VM's variables file made, its files checked, an interface on a host
 * network given its MAC and reservation (net_reserve.h), then written atomically),
 * DELETE /vms/NAME undefines a VM that does not run (and removes that file, its reservations
 * and the disk petreld made it from an image), PUT /vms/NAME/resources changes its share of the host (applied to a running
 * worker's cgroup, then saved). m->lock held, but by define_vm, which takes it itself. */
#include "manager/define.h"
#include "manager/answer.h"
#include "manager/cloudinit/ci_drive.h"
#include "manager/definitions.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/from_image.h"
#include "manager/images.h"
#include "manager/job.h"
#include "manager/mgr.h"
#include "manager/net/net_reserve.h"
#include "manager/partition.h"
#include "manager/uefi_vars.h"
#include "manager/util.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum api_result define_vm(struct manager *m, const char *body, size_t len, struct api_response *r)
{
	char err[512];
	struct vm_def def;
	int e = def_parse(body, len, &def, err, sizeof(err));
	if (!e && !strcmp(def.name, FROM_IMAGE_PATH)) {
		def_free(&def);
		e = error_set(err, sizeof(err), -EINVAL, "petrel.name: '%s' is the path of POST /vms/%s, not a VM's name",
			      FROM_IMAGE_PATH, FROM_IMAGE_PATH);
	}
	if (e < 0)
		return mgr_answer_fault(r, 400, err);
	pthread_mutex_lock(&m->lock);
	struct mgr_vm *vm = mgr_vm_find(m, def.name);
	bool vars_made = false;
	if (vm && vm->job)
		e = error_set(err, sizeof(err), -EBUSY, "VM '%s' is busy: %s in progress", def.name, vm->job->name);
	if (!e)
		e = mgr_def_files_ready(m, &def, &vars_made, err, sizeof(err));
	/* its interfaces on host networks: their MACs, their reservations (net_reserve.h) */
	if (!e)
		e = net_vm_define(m, &def, err, sizeof(err));
	/* its cloud-init seed, made now so one petreld cannot make is refused here (ci_drive.h) */
	if (!e)
		e = ci_drive_write(m, &def, err, sizeof(err));
	if (!e)
		e = save_definition(m, &def, err, sizeof(err));
	if (!e && !vm && !(vm = calloc(1, sizeof(*vm))))
		e = error_set(err, sizeof(err), -ENOMEM, "out of memory");
	if (e < 0) {
		if (vars_made)
			uefi_vars_remove(m, def.name);
		pthread_mutex_unlock(&m->lock);
		def_free(&def);
		return mgr_answer_fault(r, mgr_status_of(e), err);
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
	enum api_result res = mgr_answer_json(r, created ? 201 : 200, mgr_vm_to_json(m, vm));
	pthread_mutex_unlock(&m->lock);
	return res;
}

enum api_result undefine_vm(struct manager *m, struct mgr_vm *vm, struct api_response *r)
{
	char err[512];
	if (vm->job || vm->pid > 0 || vm->state == VM_RUNNING || vm->state == VM_PAUSED ||
	    vm->state == VM_STARTING)
		return mgr_answer_fault(r, 409, "the VM is running: shut it down or destroy it first");
	int e = defs_remove(m->defs_dir, vm->def.name, err, sizeof(err));
	if (e < 0)
		return mgr_answer_fault(r, mgr_status_of(e), err);
	uefi_vars_remove(m, vm->def.name);   /* petreld's own; a user's file elsewhere stays */
	images_vm_dir_remove(m, &vm->def);   /* the disk made from an image (from_image.c) */
	ci_drive_remove(m, vm->def.name);    /* its cloud-init seed, made at its starts */
	net_vm_undefine(m, vm->def.name);    /* its reservations on the host networks */
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

enum api_result set_resources(struct manager *m, struct mgr_vm *vm, const char *body, size_t len,
			      struct api_response *r)
{
	char err[512];
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	struct vm_resources res = vm->def.res;
	int e = o ? partition_parse(o, &res, err, sizeof(err))
		  : error_set(err, sizeof(err), -EINVAL, "expected a JSON object");
	json_decref(o);
	if (e < 0)
		return mgr_answer_fault(r, 400, err);
	if (vm->job)
		return mgr_answer_fault(r, 409, "the VM is busy: try again");
	bool up = vm->pid > 0;
	if (up && (e = partition_apply(m, vm, &res, err, sizeof(err))) < 0) {
		char undo[256];
		partition_apply(m, vm, &vm->def.res, undo, sizeof(undo));
		return mgr_answer_fault(r, 500, err);
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
		return mgr_answer_fault(r, mgr_status_of(e), err);
	}
	json_decref(vm->def.doc);
	vm->def = nd;
	mgr_event_emit(m, vm->def.name, "resources changed", json_pack("{s:o}", "resources", partition_to_json(&res)));
	json_t *out = mgr_vm_to_json(m, vm);
	if (up)
		json_object_set_new(out, "cgroup", partition_read(m, vm));
	return mgr_answer_json(r, 200, out);
}
