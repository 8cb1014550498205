/* A VM's snapshots, through petrel's own (docs/snapshots.md): <snapshot dir>/<vm>/<name>/ holds
 * vm.state, vm.mem and meta.json. Create pauses a running VM, has its worker write a Full
 * snapshot (into its jail, from where petreld moves the files out: the jail goes with the
 * worker) and resumes it. Revert replaces the VM's worker (if any) with a new one that loads the
 * snapshot; the disks are not part of a snapshot and stay as they are. */
#include "manager/manager.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int snap_dir(struct manager *m, const char *vm, const char *snap, char *out, size_t size)
{
	int n = snap ? snprintf(out, size, "%s/%s/%s", m->snapshot_dir, vm, snap)
		     : snprintf(out, size, "%s/%s", m->snapshot_dir, vm);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int move_file(const char *src, const char *dst)
{
	if (rename(src, dst) == 0)
		return 0;
	if (errno != EXDEV)
		return -errno;
	int e = copy_file(src, dst);
	unlink(src);
	return e;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_tree(const char *dir)
{
	return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int vmsnap_create(struct manager *m, struct vm *vm, const char *snap, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 16];
	if (snap_dir(m, vm->def.name, snap, dir, sizeof(dir)) < 0)
		return mgr_err(err, errlen, ENAMETOOLONG, "snapshot directory path too long");
	if (access(dir, F_OK) == 0)
		return mgr_err(err, errlen, EEXIST, "VM '%s' already has a snapshot '%s'", vm->def.name, snap);
	snprintf(tmp, sizeof(tmp), "%s.partial", dir);
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	char parent[PATH_MAX];
	snap_dir(m, vm->def.name, NULL, parent, sizeof(parent));
	if ((mkdir(m->snapshot_dir, 0750) < 0 && errno != EEXIST) || (mkdir(parent, 0750) < 0 && errno != EEXIST) ||
	    mkdir(tmp, 0750) < 0)
		return mgr_err(err, errlen, errno, "cannot create %s: %s", tmp, strerror(errno));
	pthread_mutex_lock(&m->lock);
	bool was_running = vm->state == VM_RUNNING;
	pthread_mutex_unlock(&m->lock);
	json_t *pause = json_pack("{s:s}", "state", "Paused");
	int e = was_running ? worker_call(m, vm, "PATCH", "/vm", pause, err, errlen) : 0;
	json_decref(pause);
	/* In a jail the worker writes into its root, which it owns; else straight into tmp. */
	char st[PATH_MAX + 32], mem[PATH_MAX + 32];
	snprintf(st, sizeof(st), "%s/vm.state", vm->jail_dir[0] ? "" : tmp);
	snprintf(mem, sizeof(mem), "%s/vm.mem", vm->jail_dir[0] ? "" : tmp);
	if (!e) {
		json_t *b = json_pack("{s:s, s:s, s:s}", "snapshot_type", "Full", "snapshot_path", st,
				      "mem_file_path", mem);
		e = worker_call(m, vm, "PUT", "/snapshot/create", b, err, errlen);
		json_decref(b);
	}
	if (!e && vm->jail_dir[0]) {
		const char *names[] = { "vm.state", "vm.mem" };
		for (int i = 0; i < 2 && !e; i++) {
			char from[PATH_MAX + 32], to[PATH_MAX + 32];
			snprintf(from, sizeof(from), "%s/root/%s", vm->jail_dir, names[i]);
			snprintf(to, sizeof(to), "%s/%s", tmp, names[i]);
			if ((e = move_file(from, to)) < 0)
				e = mgr_err(err, errlen, -e, "cannot move %s out of the jail: %s", from, strerror(-e));
		}
	}
	if (was_running) {
		char ignore[256];
		json_t *resume = json_pack("{s:s}", "state", "Resumed");
		worker_call(m, vm, "PATCH", "/vm", resume, ignore, sizeof(ignore));
		json_decref(resume);
	}
	if (!e) {
		json_t *meta = json_pack("{s:s, s:I, s:s, s:O}", "name", snap, "created", (json_int_t)time(NULL),
					 "vm_state", was_running ? "running" : "paused", "definition", vm->def.doc);
		e = meta_dir_finish(tmp, dir, meta, err, errlen);
	} else {
		rm_tree(tmp);
	}
	if (e < 0)
		return e;
	pthread_mutex_lock(&m->lock);
	event_emit(m, vm->def.name, "snapshot created", json_pack("{s:s}", "snapshot", snap));
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int vmsnap_into_jail(struct manager *m, struct vm *vm, const char *dir, const char *root, char *err,
		       size_t errlen)
{
	const char *names[] = { "vm.state", "vm.mem" };
	for (int i = 0; i < 2; i++) {
		char from[PATH_MAX + 32], to[PATH_MAX + 32];
		snprintf(from, sizeof(from), "%s/%s", dir, names[i]);
		snprintf(to, sizeof(to), "%s/%s", root, names[i]);
		if (link(from, to) < 0 && copy_file(from, to) < 0)
			return mgr_err(err, errlen, errno, "cannot put %s into the jail: %s", from, strerror(errno));
		if (chown(to, vm->def.uid, vm->def.gid) < 0)
			return mgr_err(err, errlen, errno, "cannot hand %s to the worker: %s", to, strerror(errno));
	}
	return 0;
}

int vmsnap_revert(struct manager *m, struct vm *vm, const char *snap, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (snap_dir(m, vm->def.name, snap, dir, sizeof(dir)) < 0 || access(dir, F_OK) < 0)
		return mgr_err(err, errlen, ENOENT, "VM '%s' has no snapshot '%s'", vm->def.name, snap);
	pthread_mutex_lock(&m->lock);
	bool up = vm->pid > 0;
	pthread_mutex_unlock(&m->lock);
	if (up)
		worker_kill(m, vm);
	return lifecycle_restore(m, vm, dir, err, errlen);
}

bool vmsnap_exists(struct manager *m, struct vm *vm, const char *snap)
{
	char dir[PATH_MAX];
	return snap_dir(m, vm->def.name, snap, dir, sizeof(dir)) == 0 && access(dir, F_OK) == 0;
}

int vmsnap_delete(struct manager *m, struct vm *vm, const char *snap, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	if (snap_dir(m, vm->def.name, snap, dir, sizeof(dir)) < 0 || access(dir, F_OK) < 0)
		return mgr_err(err, errlen, ENOENT, "VM '%s' has no snapshot '%s'", vm->def.name, snap);
	if (nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS) < 0)
		return mgr_err(err, errlen, errno, "cannot remove %s: %s", dir, strerror(errno));
	event_emit(m, vm->def.name, "snapshot deleted", json_pack("{s:s}", "snapshot", snap));
	return 0;
}

int meta_dir_finish(const char *tmp, const char *dir, json_t *meta, char *err, size_t errlen)
{
	char *text = meta ? json_dumps(meta, JSON_INDENT(2)) : NULL;
	json_decref(meta);
	int e = text ? defs_write_atomic(tmp, "meta", text, err, errlen) : -ENOMEM;
	free(text);
	if (!e && rename(tmp, dir) < 0)
		e = mgr_err(err, errlen, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (e < 0)
		rm_tree(tmp);
	return e;
}

json_t *meta_dirs_list(const char *parent)
{
	json_t *a = json_array();
	DIR *d = opendir(parent);
	if (!d)
		return a;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue; /* ., .., and <name>.partial */
		char sub[PATH_MAX + 320], err[256], *text = NULL;
		snprintf(sub, sizeof(sub), "%s/%s", parent, de->d_name);
		json_t *o = NULL;
		if (defs_read(sub, "meta.json", &text, err, sizeof(err)) >= 0)
			o = json_loads(text, 0, NULL);
		free(text);
		if (!o)
			continue;
		json_object_del(o, "definition");
		json_object_set_new(o, "dir", json_string(sub));
		struct stat st;
		snprintf(sub, sizeof(sub), "%s/%s/vm.mem", parent, de->d_name);
		if (stat(sub, &st) == 0)
			json_object_set_new(o, "mem_bytes", json_integer((json_int_t)st.st_size));
		json_array_append_new(a, o);
	}
	closedir(d);
	return a;
}

json_t *vmsnap_list(struct manager *m, struct vm *vm)
{
	char parent[PATH_MAX];
	if (snap_dir(m, vm->def.name, NULL, parent, sizeof(parent)) < 0)
		return json_array();
	return meta_dirs_list(parent);
}
