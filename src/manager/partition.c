/* Partitioning of the host through each worker's cgroup: a CPU weight, a CPU quota, a CPU set
 * and a memory limit, on cgroup v1 (cpu, cpuset, memory hierarchies) or v2 (one hierarchy).
 * The jailer creates the cgroups <hierarchy>/<parent, petreld>/<name> and writes the start values
 * (--cgroup FILE=VALUE, src/jail/cgroup.c); petreld writes the same files while the VM runs. */
#include "manager/partition.h"
#include "manager/mgr.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CFS_PERIOD_US 100000

/* The mount point of the v1 hierarchy with controller ctl, or of cgroup2 (ctl NULL). */
static int cg_mount(const char *ctl, char *out, size_t size)
{
	struct mntent ent;
	char buf[4096];
	int r = -ENOENT;
	FILE *f = setmntent("/proc/mounts", "re");
	if (!f)
		return -errno;
	while (r && getmntent_r(f, &ent, buf, sizeof(buf))) {
		if (ctl ? !strcmp(ent.mnt_type, "cgroup") && hasmntopt(&ent, ctl)
			: !strcmp(ent.mnt_type, "cgroup2")) {
			snprintf(out, size, "%s", ent.mnt_dir);
			r = 0;
		}
	}
	endmntent(f);
	return r;
}

void partition_dir(struct manager *m, const char *vm, const char *ctl, char *out, size_t size)
{
	char mnt[PATH_MAX];
	out[0] = '\0';
	if (cg_mount(m->cgroup_version == 2 ? NULL : ctl, mnt, sizeof(mnt)) == 0)
		snprintf(out, size, "%s/%s/%s", mnt, m->cgroup_parent, vm);
}

/* The cgroup files and values that express r (all four, so each can change later). */
static unsigned files_for(struct manager *m, const struct vm_resources *r, const char *file[4],
			  char val[4][64])
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	unsigned w = r->cpu_weight ? r->cpu_weight : 100;
	bool v2 = m->cgroup_version == 2;
	file[0] = v2 ? "cpu.weight" : "cpu.shares";
	snprintf(val[0], 64, "%u", v2 ? w : (w * 1024 + 50) / 100 < 2 ? 2 : (w * 1024 + 50) / 100);
	file[1] = v2 ? "cpu.max" : "cpu.cfs_quota_us";
	if (r->cpu_quota_pct)
		snprintf(val[1], 64, v2 ? "%u %u" : "%u", r->cpu_quota_pct * (CFS_PERIOD_US / 100), CFS_PERIOD_US);
	else
		snprintf(val[1], 64, v2 ? "max %u" : "-1", CFS_PERIOD_US);
	file[2] = "cpuset.cpus";
	if (r->cpuset[0])
		snprintf(val[2], 64, "%s", r->cpuset);
	else
		snprintf(val[2], 64, "0-%ld", ncpu > 0 ? ncpu - 1 : 0);
	file[3] = v2 ? "memory.max" : "memory.limit_in_bytes";
	if (r->memory_limit_mib)
		snprintf(val[3], 64, "%llu", (unsigned long long)r->memory_limit_mib << 20);
	else
		snprintf(val[3], 64, v2 ? "max" : "-1");
	return 4;
}

int partition_jailer_args(struct manager *m, const struct vm_resources *r, char **argv, int max,
			  char bufs[][96])
{
	const char *file[4];
	char val[4][64];
	unsigned n = files_for(m, r, file, val);
	int argc = 0;
	argv[argc++] = "--cgroup-version";
	argv[argc++] = m->cgroup_version == 2 ? "2" : "1";
	argv[argc++] = "--parent-cgroup";
	argv[argc++] = (char *)m->cgroup_parent;
	for (unsigned i = 0; i < n && argc + 2 <= max; i++) {
		snprintf(bufs[i], 96, "%.30s=%.63s", file[i], val[i]);
		argv[argc++] = "--cgroup";
		argv[argc++] = bufs[i];
	}
	return argc;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = write(fd, val, strlen(val)) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int partition_apply(struct manager *m, struct mgr_vm *vm, const struct vm_resources *r, char *err,
		    size_t errlen)
{
	const char *file[4];
	char val[4][64];
	unsigned n = files_for(m, r, file, val);
	/* The memory limit last when it shrinks, first when it grows? The kernel refuses a limit
	 * under the usage; the others cannot fail on each other. */
	for (unsigned i = 0; i < n; i++) {
		char ctl[32], dir[PATH_MAX], path[PATH_MAX + 64];
		snprintf(ctl, sizeof(ctl), "%.*s", (int)strcspn(file[i], "."), file[i]);
		partition_dir(m, vm->def.name, ctl, dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/%s", dir, file[i]);
		int e = dir[0] ? write_file(path, val[i]) : -ENOENT;
		if (e < 0)
			return error_set(err, errlen, e, "cannot write %s to %s: %s", val[i], path, strerror(-e));
	}
	return 0;
}

static json_t *read_value(struct manager *m, struct mgr_vm *vm, const char *file)
{
	char ctl[32], dir[PATH_MAX], path[PATH_MAX + 64], buf[128];
	snprintf(ctl, sizeof(ctl), "%.*s", (int)strcspn(file, "."), file);
	partition_dir(m, vm->def.name, ctl, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return json_string(buf);
}

json_t *partition_read(struct manager *m, struct mgr_vm *vm)
{
	static const char *const v1[] = { "cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpuset.cpus",
					  "memory.limit_in_bytes", "memory.usage_in_bytes", "cpuacct.usage", NULL };
	static const char *const v2[] = { "cpu.weight", "cpu.max", "cpuset.cpus", "memory.max",
					  "memory.current", "cpu.stat", NULL };
	json_t *o = json_object();
	for (const char *const *f = m->cgroup_version == 2 ? v2 : v1; *f; f++) {
		json_t *v = read_value(m, vm, *f);
		if (v)
			json_object_set_new(o, *f, v);
	}
	return o;
}

json_t *partition_to_json(const struct vm_resources *r)
{
	json_t *o = json_object();
	if (r->cpu_weight)
		json_object_set_new(o, "cpu_weight", json_integer(r->cpu_weight));
	if (r->cpu_quota_pct)
		json_object_set_new(o, "cpu_quota_pct", json_integer(r->cpu_quota_pct));
	if (r->cpuset[0])
		json_object_set_new(o, "cpuset", json_string(r->cpuset));
	if (r->memory_limit_mib)
		json_object_set_new(o, "memory_limit_mib", json_integer((json_int_t)r->memory_limit_mib));
	return o;
}

/* Remove vm's cgroup directories (the worker has ended). */
void partition_remove(struct manager *m, const char *vm)
{
	static const char *const ctls[] = { "cpu", "cpuset", "memory", "cpuacct", "pids", NULL };
	for (const char *const *c = ctls; *c; c++) {
		char dir[PATH_MAX];
		partition_dir(m, vm, *c, dir, sizeof(dir));
		if (dir[0])
			rmdir(dir);
		if (m->cgroup_version == 2)
			break;
	}
}
