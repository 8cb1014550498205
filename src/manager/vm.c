/* The VM table: lookup, where a VM's snapshots and backups are, and a VM as the API shows it. */
#include "manager/job.h"
#include "manager/mgr.h"
#include "manager/net/net_addrs.h"
#include "manager/partition.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *mgr_vm_state_name(enum mgr_vm_state s)
{
	static const char *const names[] = { "shut off", "starting", "running", "paused", "crashed", "standby" };
	return names[s];
}

struct mgr_vm *mgr_vm_find(struct manager *m, const char *name)
{
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		if (!strcmp(vm->def.name, name))
			return vm;
	return NULL;
}

void mgr_vm_free(struct mgr_vm *vm)
{
	if (vm->pidfd >= 0)
		close(vm->pidfd);
	def_free(&vm->def);
	json_decref(vm->replica_args);
	json_decref(vm->replica_status);
	json_decref(vm->taps);
	json_decref(vm->arriving_leases);
	json_decref(vm->guest_ifs);
	free(vm);
}

json_t *mgr_vm_guest_addresses(const struct mgr_vm *vm)
{
	if (!vm->guest_ifs)
		return NULL;
	json_t *out = json_array(), *it, *a;
	size_t i, j;
	json_array_foreach(vm->guest_ifs, i, it) {
		if (!strcmp(json_string_value(json_object_get(it, "name")) ?: "", "lo"))
			continue;
		json_array_foreach(json_object_get(it, "addresses"), j, a)
			json_array_append(out, json_object_get(a, "address"));
	}
	return out;
}

json_t *mgr_vm_to_json(struct manager *m, struct mgr_vm *vm)
{
	json_t *machine = json_object_get(vm->def.doc, "machine-config");
	json_t *o = json_pack("{s:s, s:s, s:s, s:b, s:s, s:O?, s:o}",
			      "name", vm->def.name, "uuid", vm->def.uuid, "state", mgr_vm_state_name(vm->state),
			      "autostart", vm->def.autostart, "restart", restart_policy_name(vm->def.restart),
			      "machine-config", machine, "resources", partition_to_json(&vm->def.res));
	if (!o)
		return NULL;
	if (vm->job)
		json_object_set_new(o, "operation", json_string(vm->job->name));
	if (vm->pid > 0) {
		json_object_set_new(o, "pid", json_integer(vm->pid));
		json_object_set_new(o, "vmm_pid", json_integer(vm->vmm_pid));
		json_object_set_new(o, "api_socket", json_string(vm->api_sock));
		json_object_set_new(o, "started_at", json_integer(vm->started_at));
		json_object_set_new(o, "resets", json_integer((json_int_t)vm->resets));
	}
	if (json_object_get(vm->def.doc, "display"))   /* a screen: the page's list shows a thumbnail */
		json_object_set_new(o, "display", json_true());
	if (vm->restarts)
		json_object_set_new(o, "restarts", json_integer(vm->restarts));
	if (vm->replica)
		json_object_set_new(o, "replica", json_string(vm->replica == REPLICA_PRIMARY ? "primary" : "standby"));
	if (vm->last_exit != -1 && vm->state != VM_RUNNING && vm->state != VM_PAUSED)
		json_object_set_new(o, "last_exit_status", json_integer(vm->last_exit));
	json_t *ifs = net_vm_interfaces(m, vm);   /* networks, MACs, addresses, taps */
	if (ifs)
		json_object_set_new(o, "interfaces", ifs);
	if (vm->guest_ifs)   /* what its guest agent says (guest.c) */
		json_object_set_new(o, "guest_interfaces", json_incref(vm->guest_ifs));
	return o;
}

json_t *mgr_vm_brief_json(struct manager *m, struct mgr_vm *vm)
{
	json_t *o = json_pack("{s:s, s:s}", "name", vm->def.name, "state", mgr_vm_state_name(vm->state));
	if (!o)
		return NULL;
	if (vm->pid > 0)
		json_object_set_new(o, "pid", json_integer(vm->pid));
	if (vm->job)
		json_object_set_new(o, "operation", json_string(vm->job->name));
	json_t *addrs = net_vm_addresses(m, vm);
	if (addrs)
		json_object_set_new(o, "addresses", addrs);
	if ((addrs = mgr_vm_guest_addresses(vm)))
		json_object_set_new(o, "guest_addresses", addrs);
	json_t *res = partition_to_json(&vm->def.res);
	if (json_object_size(res))
		json_object_set_new(o, "resources", res);
	else
		json_decref(res);
	return o;
}

int mgr_vm_snapshot_dir(struct manager *m, const char *vm, const char *snap, char *out, size_t size)
{
	int n = snap ? snprintf(out, size, "%s/%s/%s", m->snapshot_dir, vm, snap)
		     : snprintf(out, size, "%s/%s", m->snapshot_dir, vm);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool mgr_vm_has_snapshot(struct manager *m, const char *vm, const char *snap)
{
	char dir[PATH_MAX];
	return mgr_vm_snapshot_dir(m, vm, snap, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0;
}

int mgr_vm_backup_dir(struct manager *m, const char *vm, const char *name, char *out, size_t size)
{
	/* "<vm>.backups": a VM name has no '.', so it is no VM's snapshot directory. */
	int n = name ? snprintf(out, size, "%s/%s.backups/%s", m->snapshot_dir, vm, name)
		     : snprintf(out, size, "%s/%s.backups", m->snapshot_dir, vm);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
