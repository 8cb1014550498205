/* Backups of a running VM (docs/manager.md#backups): petrel's own backup (PUT /snapshot/backup,
 * docs/snapshots.md) writes the memory, the device state and a copy of every disk, the guest
 * paused only while they are taken; petreld adds a UEFI VM's variables file. A jailed worker
 * writes into its jail (all it can reach), from where petreld moves the files out: the jail
 * goes with the worker. A backup is complete or absent: it is made in <name>.partial and
 * renamed into place with its meta.json. */
#include "manager/backup_chain.h"
#include "manager/backup_verify.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/mgr.h"
#include "manager/test_clock.h"
#include "manager/uefi_vars.h"
#include "manager/verbs.h"
#include "manager/wclient.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Move every file of dir (the jail's backup directory) into to. Each plain file becomes
 * petreld's, readable by the worker's group (gid): a later incremental's worker reads it through
 * a link in its jail (backup_chain.h), and cannot change it. */
static int move_all(const char *dir, const char *to, unsigned gid, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d)
		return error_set(err, errlen, -errno, "cannot read %s: %s", dir, strerror(errno));
	int e = 0;
	struct dirent *de;
	while (!e && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char from[PATH_MAX + 512], dst[PATH_MAX + 512];
		snprintf(from, sizeof(from), "%s/%s", dir, de->d_name);
		snprintf(dst, sizeof(dst), "%s/%s", to, de->d_name);
		struct stat st;
		if ((e = move_file(from, dst)) < 0)
			e = error_set(err, errlen, e, "cannot move %s out of the jail: %s", from, strerror(-e));
		else if (lstat(dst, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 &&
			 (lchown(dst, geteuid(), gid) < 0 || chmod(dst, 0640) < 0))
			e = error_set(err, errlen, -errno, "cannot take %s from the worker: %s", dst, strerror(errno));
	}
	closedir(d);
	return e;
}

/* Remove what earlier backups left in a jail (<jail>/root/backup.*: a killed petreld's). */
static void jail_backup_leftovers(const char *jail)
{
	char root[PATH_MAX + 8];
	snprintf(root, sizeof(root), "%s/root", jail);
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		char path[PATH_MAX + 8 + 260];
		if (!strncmp(de->d_name, "backup.", 7) && snprintf(path, sizeof(path), "%s/%s", root, de->d_name) > 0)
			rm_tree(path);
	}
	closedir(d);
}

/* The worker's PUT /snapshot/backup into dir, as p plans it: 0 and *answer, the worker's. */
static int worker_backup(struct manager *m, struct mgr_vm *vm, const char *dir, const char *consistency,
			 const struct backup_plan *p, json_t **answer, char *err, size_t errlen)
{
	json_t *b = json_pack("{s:s, s:s, s:s}", "backup_dir", dir, "mode", p->incremental ? "incremental" : "full",
			      "chain_id", p->chain_id);
	json_object_set_new(b, "consistency", json_string(consistency[0] ? consistency : "auto"));
	if (p->incremental)
		json_object_set(b, "backing", p->backing);
	*answer = NULL;
	int e = worker_call_json(m, vm, "PUT", "/snapshot/backup", b, answer, err, errlen);
	json_decref(b);
	return e;
}

int vmbackup_parent_dir(struct manager *m, const char *vm, const char *target, char *out, size_t size)
{
	int n = target && target[0] ? snprintf(out, size, "%s/%s", target, vm) : 0;
	if (!(target && target[0]))
		return mgr_vm_backup_dir(m, vm, NULL, out, size);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int vmbackup_create(struct manager *m, struct mgr_vm *vm, const char *name, const char *consistency,
		    const char *target, const struct vmbackup_mode *mode, char *err, size_t errlen)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 16], parent[PATH_MAX], inside[PATH_MAX + 64] = "", wdir[PATH_MAX + 160];
	if (vmbackup_parent_dir(m, vm->def.name, target, parent, sizeof(parent)) < 0 ||
	    (size_t)snprintf(dir, sizeof(dir), "%s/%s", parent, name) >= sizeof(dir))
		return error_set(err, errlen, -ENAMETOOLONG, "backup directory path too long");
	if (access(dir, F_OK) == 0)
		return error_set(err, errlen, -EEXIST, "VM '%s' already has a backup '%s'", vm->def.name, name);
	snprintf(tmp, sizeof(tmp), "%s.partial", dir);
	rm_tree(tmp);
	const char *top = target && target[0] ? target : m->snapshot_dir;
	if ((mkdir(top, 0750) < 0 && errno != EEXIST) || (mkdir(parent, 0750) < 0 && errno != EEXIST) ||
	    mkdir(tmp, 0750) < 0)
		return error_set(err, errlen, -errno, "cannot create %s: %s", tmp, strerror(errno));
	int e = 0;
	struct backup_plan plan;
	backup_chain_plan(parent, name, json_object_get(vm->def.doc, "drives"), mode, &plan);
	snprintf(wdir, sizeof(wdir), "%s", tmp);
	if (vm->jail_dir[0]) {
		/* A directory of this request's own: a petreld killed mid-backup leaves its request with
		 * the worker, which may still be writing into the last one's when this one begins. The
		 * worker writes into its NAME, beside the chain's earlier members linked in (their
		 * names are the backing files' "../PREV/FILE"). */
		jail_backup_leftovers(vm->jail_dir);
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		snprintf(inside, sizeof(inside), "%s/root/backup.%lld%09d", vm->jail_dir, (long long)now.tv_sec,
			 (int)now.tv_nsec);
		if (mkdir(inside, 0700) < 0 || chown(inside, vm->def.uid, vm->def.gid) < 0)
			e = error_set(err, errlen, -errno, "cannot make %s for the worker: %s", inside, strerror(errno));
		char why[sizeof(plan.why)];
		if (!e && plan.incremental &&
		    backup_chain_link(parent, &plan, inside, vm->def.uid, vm->def.gid, why, sizeof(why)) < 0) {
			mgr_vm_log(m, vm->def.name, "backup '%s': a full member: %s", name, why);
			backup_plan_full(&plan, mode->key, name, why);
		}
		snprintf(wdir, sizeof(wdir), "%s/%s", strrchr(inside, '/'), name);
	}
	json_t *answer = NULL;   /* the worker's: consistency, mode, disks */
	if (!e)
		e = worker_backup(m, vm, wdir, consistency, &plan, &answer, err, errlen);
	if (!e && inside[0]) {
		char made[PATH_MAX + 160];
		snprintf(made, sizeof(made), "%s/%s", inside, name);
		e = move_all(made, tmp, vm->def.gid, err, errlen);
	}
	if (inside[0])
		rm_tree(inside);
	/* A UEFI VM's variables file too (the state's flash section has them as they were at the
	 * backup's instant; the file is copied after it, while the guest runs on). */
	const char *vars = uefi_vars_of(vm->def.doc);
	if (!e && vars) {
		char copy[PATH_MAX + 32];
		snprintf(copy, sizeof(copy), "%s/" UEFI_VARS_BACKUP_FILE, tmp);
		if ((e = copy_file_mode(vars, copy, 0600, true)) < 0)
			e = error_set(err, errlen, e, "cannot copy the variables file %s into the backup: %s", vars,
				      strerror(-e));
	}
	/* Every file's SHA-256 (backup_verify.h): what backup-verify checks the backup against. */
	json_t *sums = NULL;
	if (!e)
		e = backup_checksums(tmp, json_object_get(answer, "disks"), &sums, err, errlen);
	if (!e) {
		json_t *meta = json_pack("{s:s, s:I, s:O, s:o}", "name", name, "created", (json_int_t)mgr_clock_now(m),
					 "definition", vm->def.doc, "sha256", sums);
		json_t *how = consistency_meta(answer);
		json_object_update(meta, how);
		json_decref(how);
		backup_chain_meta(meta, &plan, answer);
		e = meta_dir_finish(tmp, dir, meta, err, errlen);
	} else {
		rm_tree(tmp);
	}
	json_decref(answer);
	backup_plan_free(&plan);
	return e;
}

json_t *vmbackup_list(struct manager *m, struct mgr_vm *vm)
{
	char parent[PATH_MAX];
	if (mgr_vm_backup_dir(m, vm->def.name, NULL, parent, sizeof(parent)) < 0)
		return json_array();
	return meta_dirs_list(parent);
}
