/* Figures per running VM for `petrelctl top` (GET /stats): the worker's CPU time and memory
 * from its cgroup (the whole worker, jailer included), and the I/O that petrel did through
 * system calls (/proc/PID/io rchar, wchar: its disks and taps). */
#include "manager/stats.h"
#include "manager/mgr.h"
#include "manager/partition.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

long long mgr_read_ll(const char *path, const char *key)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char line[256];
	long long v = -1;
	size_t klen = key ? strlen(key) : 0;
	while (fgets(line, sizeof(line), f)) {
		if (!key) {
			v = atoll(line);
			break;
		}
		if (!strncmp(line, key, klen) && (line[klen] == ' ' || line[klen] == ':')) {
			v = atoll(line + klen + 1 + (line[klen + 1] == ' '));
			break;
		}
	}
	fclose(f);
	return v;
}

/* CPU time in ns, from cpuacct.usage (v1) or cpu.stat usage_usec (v2); else the process's. */
static long long cpu_ns(struct manager *m, struct mgr_vm *vm)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	long long v;
	if (m->cgroup_version == 2) {
		partition_dir(m, vm->def.name, "cpu", dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/cpu.stat", dir);
		if (dir[0] && (v = mgr_read_ll(path, "usage_usec")) >= 0)
			return v * 1000;
	} else {
		partition_dir(m, vm->def.name, "cpuacct", dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/cpuacct.usage", dir);
		if (dir[0] && (v = mgr_read_ll(path, NULL)) >= 0)
			return v;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)vm->vmm_pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	char buf[1024];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (long long)(ut + st) * (1000000000LL / sysconf(_SC_CLK_TCK));
}

static long long mem_bytes(struct manager *m, struct mgr_vm *vm)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	partition_dir(m, vm->def.name, "memory", dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, m->cgroup_version == 2 ? "memory.current" : "memory.usage_in_bytes");
	long long v = dir[0] ? mgr_read_ll(path, NULL) : -1;
	if (v >= 0)
		return v;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)vm->vmm_pid);
	v = mgr_read_ll(path, "VmRSS");
	return v >= 0 ? v * 1024 : -1;
}

json_t *stats_json(struct manager *m)
{
	json_t *a = json_array();
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next) {
		json_t *o = json_pack("{s:s, s:s}", "name", vm->def.name, "state", mgr_vm_state_name(vm->state));
		if (vm->pid > 0) {
			char io[64];
			snprintf(io, sizeof(io), "/proc/%d/io", (int)vm->vmm_pid);
			json_object_set_new(o, "cpu_ns", json_integer(cpu_ns(m, vm)));
			json_object_set_new(o, "memory_bytes", json_integer(mem_bytes(m, vm)));
			json_object_set_new(o, "io_read_bytes", json_integer(mgr_read_ll(io, "rchar")));
			json_object_set_new(o, "io_write_bytes", json_integer(mgr_read_ll(io, "wchar")));
			json_object_set_new(o, "vcpus", json_incref(json_object_get(json_object_get(vm->def.doc, "machine-config"),
										   "vcpu_count")));
		}
		json_array_append_new(a, o);
	}
	return a;
}
