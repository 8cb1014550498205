/* The VM table: lookup, names, and a VM as the API shows it. */
#include "manager/manager.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *vm_state_name(enum vm_state s)
{
	static const char *const names[] = { "shut off", "starting", "running", "paused", "crashed", "standby" };
	return names[s];
}

bool vm_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > VM_NAME_MAX || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

struct vm *vm_find(struct manager *m, const char *name)
{
	for (struct vm *vm = m->vms; vm; vm = vm->next)
		if (!strcmp(vm->def.name, name))
			return vm;
	return NULL;
}

void vm_free(struct vm *vm)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	def_free(&vm->def);
	json_decref(vm->replica_args);
	json_decref(vm->replica_status);
	free(vm);
}

json_t *vm_to_json(struct manager *m, struct vm *vm)
{
	json_t *machine = json_object_get(vm->def.doc, "machine-config");
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:O?, s:o}",
			      "name", vm->def.name, "uuid", vm->def.uuid, "state", vm_state_name(vm->state),
			      "autostart", vm->def.autostart, "restart", restart_policy_name(vm->def.restart),
			      "machine-config", machine, "resources", partition_to_json(&vm->def.res));
	if (!o)
		return NULL;
	if (vm->busy)
		json_object_set_new(o, "operation", json_string(vm->busy));
	if (vm->pid > 0) {
		json_object_set_new(o, "pid", json_integer(vm->pid));
		json_object_set_new(o, "vmm_pid", json_integer(vm->vmm_pid));
		json_object_set_new(o, "api_socket", json_string(vm->api_sock));
		json_object_set_new(o, "started_at", json_integer(vm->started_at));
	}
	if (vm->restarts)
		json_object_set_new(o, "restarts", json_integer(vm->restarts));
	if (vm->replica)
		json_object_set_new(o, "replica", json_string(vm->replica == REPLICA_PRIMARY ? "primary" : "standby"));
	if (vm->last_exit != -1 && vm->state != VM_RUNNING && vm->state != VM_PAUSED)
		json_object_set_new(o, "last_exit_status", json_integer(vm->last_exit));
	return o;
}

json_t *vm_brief_json(struct vm *vm)
{
	json_t *o = json_pack("{s:s, s:s}", "name", vm->def.name, "state", vm_state_name(vm->state));
	if (!o)
		return NULL;
	if (vm->pid > 0)
		json_object_set_new(o, "pid", json_integer(vm->pid));
	if (vm->busy)
		json_object_set_new(o, "operation", json_string(vm->busy));
	json_t *res = partition_to_json(&vm->def.res);
	if (json_object_size(res))
		json_object_set_new(o, "resources", res);
	else
		json_decref(res);
	return o;
}
