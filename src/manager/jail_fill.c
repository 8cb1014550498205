/* Filling a worker's jail (jail_fill.h): petrel-jailer gives the worker an empty root; petreld
 * puts into it what the worker may reach: the definition's files (kernel, initrd, firmware and its
 * variables file, disks, pmem)
 * as /vm/fN, a qcow2 disk's backing chain beside it (jail_backing.c), a snapshot's state and
 * memory for a start from it, and the certificates of a migration between hosts. */
#include "manager/jail_fill.h"
#include "config/display_config.h"
#include "manager/definition.h"
#include "manager/fsutil.h"
#include "manager/jail_bitmap.h"
#include "manager/mgr.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct jail_put {
	struct mgr_vm *vm;
	const char *root;
	unsigned n;
	char *err;
	size_t errlen;
};

/* Put one host file into the jail as /vm/fN and give the definition that path. Kernels and
 * initrds are linked or copied (read only); disks are hard links, so they must live on the
 * jail base's file system, and are handed to the worker's uid:gid as Firecracker's recipe does. */
static int put_in_jail(void *arg, const char *where, const char *path, bool disk)
{
	struct jail_put *j = arg;
	char dst[PATH_MAX + 32];
	snprintf(dst, sizeof(dst), "%s/vm/f%u", j->root, j->n++);
	struct stat st;
	/* A read-only file the worker's uid could not read through a link is copied: a link shares
	 * the host file's inode, and changing its mode would change the host's file. */
	bool copy = !disk && (stat(path, &st) < 0 || !(st.st_mode & S_IROTH));
	if (copy || link(path, dst) < 0) {
		int e = copy ? EPERM : errno;
		if (disk || (e != EXDEV && e != EPERM) || copy_file(path, dst) < 0)
			return error_set(j->err, j->errlen, -e, "%s: cannot link '%s' into the jail %s: %s%s", where,
				       path, j->root, strerror(e),
				       e != EXDEV ? "" : strcmp(where, "firmware_vars_path")
				       ? " (a disk must be on the jail base's file system)"
				       : " (petreld's definitions directory, where a UEFI VM's variables are, must be on "
					 "the jail base's file system)");
		copy = !disk;
	}
	if (disk ? chown(dst, j->vm->def.uid, j->vm->def.gid) < 0 : copy && chmod(dst, 0644) < 0)
		return error_set(j->err, j->errlen, -errno, "%s: cannot hand '%s' to the worker: %s", where, path,
			       strerror(errno));
	int e = !strcmp(where, "drives") ? jail_bitmap_in(j->vm, j->root, strrchr(dst, '/') + 1, path) : 0;
	if (e < 0)
		return error_set(j->err, j->errlen, e, "%s: cannot list '%s''s bitmap for the jail: %s", where, path,
				 strerror(-e));
	return 0;
}

/* The definition's paths, rewritten to the jail's /vm/fN, in the order put_in_jail saw them. */
static void rewrite_paths(json_t *fc)
{
	unsigned n = 0;
	char p[32];
	json_t *bs = json_object_get(fc, "boot-source");
	for (int i = 0; def_boot_keys[i]; i++)
		if (json_is_string(json_object_get(bs, def_boot_keys[i]))) {
			snprintf(p, sizeof(p), "/vm/f%u", n++);
			json_object_set_new(bs, def_boot_keys[i], json_string(p));
		}
	const char *arrays[] = { "drives", "pmem" };
	for (int a = 0; a < 2; a++) {
		size_t i;
		json_t *el;
		json_array_foreach(json_object_get(fc, arrays[a]), i, el)
			if (json_is_string(json_object_get(el, "path_on_host"))) {
				snprintf(p, sizeof(p), "/vm/f%u", n++);
				json_object_set_new(el, "path_on_host", json_string(p));
			}
	}
}

/* stdvga's VGA BIOS, which the worker reads at its host path: copied to that path in the jail. */
static int put_vga_rom(const char *root, json_t *fc, char *err, size_t errlen)
{
	json_t *model = json_object_get(json_object_get(fc, "display"), "model");
	if (!json_is_string(model) || strcmp(json_string_value(model), "stdvga") != 0)
		return 0;
	char dst[PATH_MAX + 64];
	const char *p = DISPLAY_STDVGA_ROM;
	for (const char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		snprintf(dst, sizeof(dst), "%s%.*s", root, (int)(s - p), p);
		if (mkdir(dst, 0755) < 0 && errno != EEXIST)
			return error_set(err, errlen, -errno, "mkdir %s: %s", dst, strerror(errno));
	}
	snprintf(dst, sizeof(dst), "%s%s", root, p);
	if (copy_file(p, dst) < 0 || chmod(dst, 0644) < 0)
		return error_set(err, errlen, -errno, "display: cannot put stdvga's VGA BIOS %s into the jail: %s "
				 "(Debian's package seabios)", p, strerror(errno));
	return 0;
}

int jail_fill(struct mgr_vm *vm, const char *root, json_t *fc, char *err, size_t errlen)
{
	char vmdir[PATH_MAX + 16];
	snprintf(vmdir, sizeof(vmdir), "%s/vm", root);
	if (mkdir(vmdir, 0755) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "mkdir %s: %s", vmdir, strerror(errno));
	/* the worker's: a raw disk's bitmap sidecar is written beside it (jail_bitmap.c) */
	if (chown(vmdir, vm->def.uid, vm->def.gid) < 0)
		return error_set(err, errlen, -errno, "cannot hand %s to the worker: %s", vmdir, strerror(errno));
	struct jail_put jp = { vm, root, 0, err, errlen };
	int e;
	if ((e = def_foreach_file(fc, put_in_jail, &jp)) < 0 || (e = jail_link_backing(fc, root, err, errlen)) < 0 ||
	    (e = put_vga_rom(root, fc, err, errlen)) < 0)
		return e;
	rewrite_paths(fc);
	return 0;
}

int jail_put_snapshot(struct mgr_vm *vm, const char *dir, const char *root, char *err, size_t errlen)
{
	const char *names[] = { "vm.state", "vm.mem" };
	for (int i = 0; i < 2; i++) {
		char from[PATH_MAX + 32], to[PATH_MAX + 32];
		snprintf(from, sizeof(from), "%s/%s", dir, names[i]);
		snprintf(to, sizeof(to), "%s/%s", root, names[i]);
		if (link(from, to) < 0 && copy_file(from, to) < 0)
			return error_set(err, errlen, -errno, "cannot put %s into the jail: %s", from, strerror(errno));
		/* A backup's files are petreld's, the worker's group reading them (backup.c): a link
		 * handed to the worker would hand it the backup's file. */
		struct stat st;
		if (stat(to, &st) == 0 && st.st_gid == vm->def.gid && (st.st_mode & 0040) && st.st_nlink > 1)
			continue;
		if (chown(to, vm->def.uid, vm->def.gid) < 0)
			return error_set(err, errlen, -errno, "cannot hand %s to the worker: %s", to, strerror(errno));
	}
	return 0;
}

/* Copy dir/name into the jail's /tls, for the worker's uid alone. */
static int copy_in(const char *dir, const char *name, const char *to, unsigned uid, unsigned gid)
{
	char src[PATH_MAX], dst[PATH_MAX + 32];
	snprintf(src, sizeof(src), "%s/%s", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", to, name);
	unlink(dst);
	int e = copy_file(src, dst);
	if (!e && (chown(dst, uid, gid) < 0 || chmod(dst, 0400) < 0))
		e = -errno;
	return e;
}

int jail_tls_dir(struct manager *m, struct mgr_vm *vm, char *out, size_t outlen, char *err, size_t errlen)
{
	if (!m->tls_dir)
		return error_set(err, errlen, -EINVAL, "this petreld has no certificates: start it with --tls-dir");
	if (!vm->jail_dir[0]) {
		snprintf(out, outlen, "%s", m->tls_dir);
		return 0;
	}
	/* A jailed worker sees only its root: the certificates go in as /tls. */
	char to[PATH_MAX + 16];
	snprintf(to, sizeof(to), "%s/root/tls", vm->jail_dir);
	if (mkdir(to, 0700) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "mkdir %s: %s", to, strerror(errno));
	if (chown(to, vm->def.uid, vm->def.gid) < 0)
		return error_set(err, errlen, -errno, "chown %s: %s", to, strerror(errno));
	const char *files[] = { "ca.pem", "cert.pem", "key.pem" };
	for (int i = 0; i < 3; i++) {
		int e = copy_in(m->tls_dir, files[i], to, vm->def.uid, vm->def.gid);
		if (e < 0)
			return error_set(err, errlen, e, "cannot put %s/%s in the jail: %s", m->tls_dir, files[i],
				       strerror(-e));
	}
	snprintf(out, outlen, "/tls");
	return 0;
}
