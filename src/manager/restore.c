/* Restoring a VM from one of its backups (docs/manager.md#restoring-a-backup).
 *
 * A backup (backup.c) holds vm.state, vm.mem, a copy DRIVE_ID.img of each disk and a UEFI VM's
 * variables file (firmware.vars), put back like a disk. A restore
 * stops the VM's worker if one runs, puts each copy back in place of the VM's disk (a new file
 * next to it, filled by a reflink where the file system can or a copy, synced, then renamed
 * over the disk: a restore cut short leaves the old disk or the backup's, never a mix), then
 * starts a worker that loads the backup's state and memory on those disks and runs on. */
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

int vmrestore_check(struct manager *m, struct mgr_vm *vm, const char *backup, char *err, size_t errlen)
{
	char dir[PATH_MAX], meta[PATH_MAX + 16];
	if (mgr_vm_backup_dir(m, vm->def.name, backup, dir, sizeof(dir)) < 0)
		return error_set(err, errlen, -ENAMETOOLONG, "backup directory path too long");
	snprintf(meta, sizeof(meta), "%s/meta.json", dir);
	if (access(meta, F_OK) < 0)
		return error_set(err, errlen, -ENOENT, "VM '%s' has no backup '%s'", vm->def.name, backup);
	/* Every writable disk must have its copy: a backup from before a disk was added cannot
	 * bring the VM back whole. */
	size_t i;
	json_t *d;
	json_array_foreach(json_object_get(vm->def.doc, "drives"), i, d) {
		char copy[PATH_MAX + 80];
		const char *id = json_string_value(json_object_get(d, "drive_id"));
		snprintf(copy, sizeof(copy), "%s/%s.img", dir, id ? id : "");
		if (!json_is_true(json_object_get(d, "is_read_only")) && access(copy, R_OK) < 0)
			return error_set(err, errlen, -EBUSY, "backup '%s' has no copy of drive '%s' (made before it was added?)",
				       backup, id ? id : "?");
	}
	return 0;
}

/* Put the backup's copy src in place of the disk dst: a new file beside it, then a rename. */
static int put_back(const char *src, const char *dst, char *err, size_t errlen)
{
	char tmp[PATH_MAX + 16];
	struct stat st;
	if (snprintf(tmp, sizeof(tmp), "%s.restoring", dst) >= (int)sizeof(tmp))
		return error_set(err, errlen, -ENAMETOOLONG, "'%s': path too long", dst);
	if (stat(dst, &st) < 0)
		st.st_mode = 0600, st.st_uid = getuid(), st.st_gid = getgid();
	unlink(tmp);
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st.st_mode & 07777);
	int e = 0;
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
	if (!e && (fchmod(out, st.st_mode & 07777) < 0 || fchown(out, st.st_uid, st.st_gid) < 0 || fsync(out) < 0))
		e = -errno;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	if (!e && rename(tmp, dst) < 0)
		e = -errno;
	if (e < 0) {
		unlink(tmp);
		return error_set(err, errlen, e, "cannot put the backup's '%s' back as '%s': %s", src, dst, strerror(-e));
	}
	char *slash = strrchr(tmp, '/');
	*slash = '\0';
	int dfd = open(slash == tmp ? "/" : tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int vmrestore_run(struct manager *m, struct mgr_vm *vm, const char *backup, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int e = vmrestore_check(m, vm, backup, err, errlen);
	if (e < 0)
		return e;
	mgr_vm_backup_dir(m, vm->def.name, backup, dir, sizeof(dir));
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
	json_t *d;
	json_array_foreach(drives, i, d) {
		char copy[PATH_MAX + 80];
		const char *id = json_string_value(json_object_get(d, "drive_id"));
		const char *path = json_string_value(json_object_get(d, "path_on_host"));
		snprintf(copy, sizeof(copy), "%s/%s.img", dir, id);
		if (json_is_true(json_object_get(d, "is_read_only")) || !path)
			continue; /* never written: as it was */
		if ((e = put_back(copy, path, err, errlen)) < 0)
			break;
	}
	json_decref(drives);
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
