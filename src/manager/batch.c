/* VMs made in one request, all or nothing (batch.h): started a few at a time, or all undone
 * when one of them cannot be made or started, so that a request leaves every VM it asked for
 * or none. */
#include "manager/batch.h"
#include "manager/cloudinit/ci_drive.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/mgr.h"
#include "manager/net/net_reserve.h"
#include "manager/start.h"
#include "manager/uefi_vars.h"
#include "manager/worker.h"
#include "util/error.h"

#include <limits.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define START_THREADS 16 /* at most; two per online CPU: a start is mostly CPU (exec, jail, load) */

int batch_name_free(struct manager *m, const char *name,
		    int (*dir_of)(struct manager *m, const char *name, char *out, size_t size), const char *instead,
		    char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	if (mgr_vm_find(m, name))
		return error_set(err, errlen, -EEXIST, "a VM named '%s' exists already (choose %s)", name, instead);
	if (dir_of(m, name, path, sizeof(path)) == 0 && lstat(path, &st) == 0)
		return error_set(err, errlen, -EEXIST, "%s exists (the disks of an earlier '%s'?): remove it or choose %s",
				 path, name, instead);
	if (uefi_vars_own_path(m, name, path, sizeof(path)) == 0 && lstat(path, &st) == 0)
		return error_set(err, errlen, -EEXIST, "%s exists (the variables of an earlier '%s'?): remove it or "
				 "choose %s", path, name, instead);
	return 0;
}

void batch_add(struct manager *m, struct mgr_vm *vm, const struct vm_def *def, const struct mgr_job *job,
	       json_t *extra)
{
	vm->def = *def;
	vm->pidfd = -1;
	vm->last_exit = -1;
	vm->job = job;
	vm->next = m->vms;
	m->vms = vm;
	mgr_event_emit(m, def->name, "defined", extra);
}

struct starter {
	struct manager *m;
	struct mgr_vm **made;
	unsigned count;
	const char *snapdir, *what;
	atomic_uint next;
	atomic_int failed;
	char err[512];
};

static void *start_some(void *arg)
{
	struct starter *s = arg;
	unsigned i;
	while (!atomic_load(&s->failed) && (i = atomic_fetch_add(&s->next, 1)) < s->count) {
		char err[400];
		int e = s->snapdir ? start_restore(s->m, s->made[i], s->snapdir, "restored", err, sizeof(err))
				   : start_boot(s->m, s->made[i], false, err, sizeof(err));
		if (e < 0 && !atomic_exchange(&s->failed, 1))
			snprintf(s->err, sizeof(s->err), "%s '%s': %s", s->what, s->made[i]->def.name, err);
	}
	return NULL;
}

int batch_start(struct manager *m, struct mgr_vm **made, unsigned count, const char *snapdir, const char *what,
		char *err, size_t errlen)
{
	struct starter s = { .m = m, .made = made, .count = count, .snapdir = snapdir, .what = what };
	pthread_t t[START_THREADS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = 0, max = cpus > 0 && cpus < START_THREADS / 2 ? 2 * (unsigned)cpus : START_THREADS;
	for (; n < max && n < count; n++)
		if (pthread_create(&t[n], NULL, start_some, &s) != 0)
			break;
	if (!n)
		start_some(&s);
	for (unsigned k = 0; k < n; k++)
		pthread_join(t[k], NULL);
	return s.failed ? error_set(err, errlen, -EIO, "%s", s.err) : 0;
}

void batch_discard(struct manager *m, struct mgr_vm **made, unsigned n,
		   int (*dir_of)(struct manager *m, const char *name, char *out, size_t size))
{
	for (unsigned i = 0; i < n; i++) {
		struct mgr_vm *vm = made[i];
		char dir[PATH_MAX], err[256];
		if (!vm)
			continue;
		pthread_mutex_lock(&m->lock);
		bool up = vm->pid > 0;
		pthread_mutex_unlock(&m->lock);
		if (up)
			worker_kill(m, vm);
		pthread_mutex_lock(&m->lock);
		for (struct mgr_vm **p = &m->vms; *p; p = &(*p)->next)
			if (*p == vm) {
				*p = vm->next;
				break;
			}
		defs_remove(m->defs_dir, vm->def.name, err, sizeof(err));
		uefi_vars_remove(m, vm->def.name);
		ci_drive_remove(m, vm->def.name);
		net_vm_undefine(m, vm->def.name);
		mgr_event_emit(m, vm->def.name, "undefined", NULL);
		if (dir_of(m, vm->def.name, dir, sizeof(dir)) == 0)
			rm_tree(dir);
		mgr_vm_free(vm);
		pthread_mutex_unlock(&m->lock);
	}
}
