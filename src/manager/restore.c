/* Restoring a VM from one of its backups (docs/manager.md#restoring-a-backup).
 *
 * A backup (backup.c) holds vm.state, vm.mem, a copy DRIVE_ID.img of each disk (or, a chain's
 * incremental member, DRIVE_ID.qcow2 over the member before it: flattened into a whole disk,
 * backup_flatten.c) and a UEFI VM's variables file (firmware.vars), put back like a disk. A restore
 * stops the VM's worker if one runs, puts each copy back in place of the VM's disk (a new file
 * next to it, filled by a reflink where the file system can or a copy, synced, then renamed
 * over the disk: a restore cut short leaves the old disk or the backup's, never a mix), then
 * starts a worker that loads the backup's state and memory on those disks and runs on. */
#include "manager/backup_chain.h"
#include "manager/backup_flatten.h"
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/mgr.h"
#include "manager/start.h"
#include "manager/uefi_vars.h"
#include "manager/verbs.h"
#include "manager/worker.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Drive id's member of the backup in dir. */
static void member_path(const char *dir, json_t *meta, const char *id, char *out, size_t size)
{
	char file[VM_NAME_MAX + 80];
	backup_member_file(meta, id, file, sizeof(file));
	snprintf(out, size, "%s/%s", dir, file);
}

static bool is_incremental(const char *path)
{
	size_t n = strlen(path);
	return n > 6 && !strcmp(path + n - 6, ".qcow2");
}

/* The backup's directory into dir: at, or the VM's own backup's. */
static int backup_at(struct manager *m, struct mgr_vm *vm, const char *backup, const char *at, char *dir, size_t size)
{
	if (at)
		return (size_t)snprintf(dir, size, "%s", at) < size ? 0 : -ENAMETOOLONG;
	return mgr_vm_backup_dir(m, vm->def.name, backup, dir, size);
}

int vmrestore_check(struct manager *m, struct mgr_vm *vm, const char *backup, const char *at, char *err,
		    size_t errlen)
{
	char dir[PATH_MAX], meta[PATH_MAX + 16];
	if (backup_at(m, vm, backup, at, dir, sizeof(dir)) < 0)
		return error_set(err, errlen, -ENAMETOOLONG, "backup directory path too long");
	snprintf(meta, sizeof(meta), "%s/meta.json", dir);
	if (access(meta, F_OK) < 0)
		return error_set(err, errlen, -ENOENT, "VM '%s' has no backup '%s'", vm->def.name, backup);
	/* Every writable disk must have its copy: a backup from before a disk was added cannot
	 * bring the VM back whole. */
	size_t i;
	json_t *d, *bm = meta_dir_read(dir);
	int e = 0;
	json_array_foreach(json_object_get(vm->def.doc, "drives"), i, d) {
		char copy[PATH_MAX + 160];
		const char *id = json_string_value(json_object_get(d, "drive_id"));
		member_path(dir, bm, id ? id : "", copy, sizeof(copy));
		if (!json_is_true(json_object_get(d, "is_read_only")) && access(copy, R_OK) < 0) {
			e = error_set(err, errlen, -EBUSY, "backup '%s' has no copy of drive '%s' (made before it was added?)",
				      backup, id ? id : "?");
			break;
		}
	}
	json_decref(bm);
	return e;
}

/* The new file tmp, filled, in place of dst: dst's mode and owner, synced, renamed over it. */
static int install(int out, const char *tmp, const char *dst, const struct stat *st)
{
	int e = 0;
	if (fchmod(out, st->st_mode & 07777) < 0 || fchown(out, st->st_uid, st->st_gid) < 0 || fsync(out) < 0)
		e = -errno;
	close(out);
	if (!e && rename(tmp, dst) < 0)
		e = -errno;
	if (e < 0)
		return e;
	char dir[PATH_MAX + 16];
	snprintf(dir, sizeof(dir), "%s", tmp);
	char *slash = strrchr(dir, '/');
	*slash = '\0';
	int dfd = open(slash == dir ? "/" : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Put the backup's copy src in place of the disk dst: a new file beside it (a reflink where the
 * file system can, a copy, or an incremental member, a qcow2 over the chain before it,
 * flattened), then a rename. */
static int put_back(const char *src, const char *dst, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 16];
	struct stat st;
	if (snprintf(tmp, sizeof(tmp), "%s.restoring", dst) >= (int)sizeof(tmp))
		return error_set(err, errlen, -ENAMETOOLONG, "'%s': path too long", dst);
	if (stat(dst, &st) < 0)
		st.st_mode = 0600, st.st_uid = getuid(), st.st_gid = getgid();
	unlink(tmp);
	int e = 0, out = -1;
	if (is_incremental(src)) {
		char why[400];
		if ((e = backup_flatten(src, tmp, why, sizeof(why))) < 0)
			return error_set(err, errlen, e, "cannot put the chain of '%s' back as '%s': %s", src, dst, why);
		if ((out = open(tmp, O_WRONLY | O_CLOEXEC)) < 0)
			e = -errno;
	} else {
		_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
		out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
		if (in < 0 || out < 0)
			e = -errno;
		else if (ioctl(out, FICLONE, in) < 0) {
			close(out);
			unlink(tmp);
			out = -1;
			e = copy_file(src, tmp);
			if (!e && (out = open(tmp, O_WRONLY | O_CLOEXEC)) < 0)
				e = -errno;
		}
	}
	if (!e)
		e = install(out, tmp, dst, &st);
	else if (out >= 0)
		close(out);
	if (e < 0) {
		unlink(tmp);
		return error_set(err, errlen, e, "cannot put the backup's '%s' back as '%s': %s", src, dst, strerror(-e));
	}
	return 0;
}

int vmrestore_run(struct manager *m, struct mgr_vm *vm, const char *backup, const char *at, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int e = vmrestore_check(m, vm, backup, at, err, errlen);
	if (e < 0)
		return e;
	backup_at(m, vm, backup, at, dir, sizeof(dir));
	pthread_mutex_lock(&m->lock);
	bool up = vm->pid > 0;
	json_t *drives = json_deep_copy(json_object_get(vm->def.doc, "drives"));
	char vars[PATH_MAX] = "";
	if (uefi_vars_of(vm->def.doc))
		snprintf(vars, sizeof(vars), "%s", uefi_vars_of(vm->def.doc));
	pthread_mutex_unlock(&m->lock);
	if (up)
		worker_kill(m, vm);
	size_t i;
	json_t *d, *bm = meta_dir_read(dir);
	json_array_foreach(drives, i, d) {
		char copy[PATH_MAX + 160];
		const char *id = json_string_value(json_object_get(d, "drive_id"));
		const char *path = json_string_value(json_object_get(d, "path_on_host"));
		member_path(dir, bm, id ? id : "", copy, sizeof(copy));
		if (json_is_true(json_object_get(d, "is_read_only")) || !path)
			continue; /* never written: as it was */
		if ((e = put_back(copy, path, err, errlen)) < 0)
			break;
	}
	json_decref(drives);
	json_decref(bm);
	/* A UEFI VM's variables file (a backup made before it was UEFI has none: the file stays). */
	char copy[PATH_MAX + 32];
	snprintf(copy, sizeof(copy), "%s/" UEFI_VARS_BACKUP_FILE, dir);
	if (!e && vars[0] && access(copy, R_OK) == 0)
		e = put_back(copy, vars, err, errlen);
	if (e < 0)
		return e;
	mgr_vm_log(m, vm->def.name, "disks restored from backup '%s'", backup);
	return start_restore(m, vm, dir, "restored", err, errlen);
}
