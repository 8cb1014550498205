/* A UEFI VM's variables file (uefi_vars.h, docs/manager.md#uefi-vms). OVMF keeps its variables
 * (boot entries, BootOrder, ...) in a flash the worker maps from this file and writes through to
 * it, so the file is part of the VM like its disks. petreld's own file of VM NAME is
 * <defs dir>/NAME.vars, beside NAME.json: made from OVMF's template (--ovmf-vars-template) when
 * the VM is defined, copied for a clone, removed with the definition. A definition that names a
 * file elsewhere (shared storage under a cluster) keeps it: the user's file, which petreld checks
 * and hands to the worker like a disk and never makes or removes. */
#include "manager/uefi_vars.h"
#include "config/firmware_config.h"
#include "manager/defs.h"
#include "manager/fsutil.h"
#include "manager/mgr.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static json_t *boot_source(json_t *doc)
{
	return json_object_get(doc, "boot-source");
}

const char *uefi_vars_of(json_t *doc)
{
	return json_string_value(json_object_get(boot_source(doc), UEFI_VARS_KEY));
}

bool uefi_vars_wanted(json_t *doc)
{
	return firmware_names_uefi(json_string_value(json_object_get(boot_source(doc), "firmware")), uefi_vars_of(doc));
}

/* The definitions directory without its trailing slashes: its length in m->defs_dir. */
static size_t defs_len(struct manager *m)
{
	size_t n = strlen(m->defs_dir);
	while (n > 1 && m->defs_dir[n - 1] == '/')
		n--;
	return n;
}

int uefi_vars_own_path(struct manager *m, const char *name, char *out, size_t size)
{
	int n = snprintf(out, size, "%.*s/%s.vars", (int)defs_len(m), m->defs_dir, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool uefi_vars_is_own(struct manager *m, const char *name, const char *path)
{
	char own[PATH_MAX];
	return path && uefi_vars_own_path(m, name, own, sizeof(own)) == 0 && !strcmp(path, own);
}

int uefi_vars_create(struct manager *m, const char *name, const char *src, char *err, size_t errlen)
{
	char own[PATH_MAX], tmp[PATH_MAX];
	size_t n = defs_len(m);
	if (uefi_vars_own_path(m, name, own, sizeof(own)) < 0 ||
	    snprintf(tmp, sizeof(tmp), "%.*s/.%s.vars.tmp", (int)n, m->defs_dir, name) >= (int)sizeof(tmp))
		return error_set(err, errlen, -ENAMETOOLONG, "%s: path too long", m->defs_dir);
	if (access(src, R_OK) < 0)
		return error_set(err, errlen, -ENOENT, "cannot make the variables file %s from %s: %s%s", own, src,
				 strerror(errno), strcmp(src, m->vars_template) ? "" : " (Debian's package ovmf)");
	unlink(tmp);   /* a crash's leftover: never linked into place */
	int e = copy_file_mode(src, tmp, 0600, true);
	if (!e && link(tmp, own) < 0)   /* whole or absent; an existing file is kept */
		e = -errno;
	unlink(tmp);
	if (e == -EEXIST)
		return error_set(err, errlen, e, "the variables file %s exists already", own);
	if (e < 0)
		return error_set(err, errlen, e, "cannot make the variables file %s from %s: %s", own, src, strerror(-e));
	defs_sync_dir(m->defs_dir);
	return 0;
}

int uefi_vars_prepare(struct manager *m, struct vm_def *def, bool *created, char *err, size_t errlen)
{
	*created = false;
	if (!uefi_vars_wanted(def->doc))
		return 0;
	char own[PATH_MAX];
	if (m->defs_dir[0] != '/' || uefi_vars_own_path(m, def->name, own, sizeof(own)) < 0)
		return error_set(err, errlen, -EINVAL, "boot-source." UEFI_VARS_KEY ": the definitions directory %s is "
				 "not an absolute path of at most %d bytes", m->defs_dir, PATH_MAX - VM_NAME_MAX - 8);
	const char *path = uefi_vars_of(def->doc);
	size_t n = defs_len(m);
	if (path && strcmp(path, own)) {
		/* The user's own file elsewhere; in petreld's directory only petreld's own name. */
		if (!strncmp(path, m->defs_dir, n) && path[n] == '/')
			return error_set(err, errlen, -EINVAL, "boot-source." UEFI_VARS_KEY ": '%s' is in petreld's "
					 "definitions directory, where VM '%s''s variables are %s (leave the field out "
					 "and petreld makes it)", path, def->name, own);
		return 0;
	}
	if (!path && json_object_set_new(boot_source(def->doc), UEFI_VARS_KEY, json_string(own)) < 0)
		return error_oom(err, errlen);
	struct stat st;
	if (lstat(own, &st) == 0)
		return 0;   /* def_check_files checks what it is */
	int e = uefi_vars_create(m, def->name, m->vars_template, err, errlen);
	if (e == -EEXIST)
		return 0;
	*created = e == 0;
	return e;
}

void uefi_vars_remove(struct manager *m, const char *name)
{
	char own[PATH_MAX];
	if (uefi_vars_own_path(m, name, own, sizeof(own)) == 0 && unlink(own) == 0)
		defs_sync_dir(m->defs_dir);
}

void uefi_vars_for_peer(struct manager *m, const char *name, json_t *doc)
{
	/* Without the path "ovmf" is still UEFI; a firmware named by its path is UEFI only with
	 * one, so that path stays (the target's own when its definitions directory is ours). */
	const char *fw = json_string_value(json_object_get(boot_source(doc), "firmware"));
	if (fw && !strcmp(fw, "ovmf") && uefi_vars_is_own(m, name, uefi_vars_of(doc)))
		json_object_del(boot_source(doc), UEFI_VARS_KEY);
}
