/* The jail's directory tree on the host: <base>/<exec name>/<id>/root with the exec file
 * copy, /run, and the directories the jail's mount namespace covers with a tmpfs: /dev for
 * the device nodes (devices.c), and those where the exec file's shared libraries will be
 * bind-mounted (mounts.c). The root and /run belong to uid:gid so petrel can create its API
 * socket; everything else belongs to root. They are handed over last, by descriptor, when
 * the jail's mount namespace is complete (jail_root_hand_over, from mounts.c): while root
 * works in the tree by path, here and in the namespace (the tmpfs mounts, mknod, chown, the
 * libraries' mount points), no other process may write in it (a process of the jail's uid
 * on the host could otherwise rename a directory and plant a symlink, and send a mkdir,
 * mknod, chown or file write to a host file: a review found the chown of /dev/kvm sent to a
 * root-owned host file in 29 of 40 tries when the hand-over came before the namespace). With --rootless everything
 * belongs to the caller, whose ids are uid:gid inside the jail's user namespace. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A directory built root-owned, to be petrel's: held open (never followed if it is a link)
 * to be given to uid:gid by jail_root_hand_over. */
static int hold(const char *path, int *fd)
{
	if ((*fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return jail_err(errno, "open %s", path);
	return 0;
}

int jail_root_hand_over(const struct jail *j)
{
	if (j->args->rootless)
		return 0;   /* the caller's, which is uid:gid in the jail's user namespace */
	if (fchown(j->run_fd, j->args->uid, j->args->gid) < 0)
		return jail_err(errno, "chown %s/run to %u:%u", j->root, j->args->uid, j->args->gid);
	if (fchown(j->root_fd, j->args->uid, j->args->gid) < 0)
		return jail_err(errno, "chown %s to %u:%u", j->root, j->args->uid, j->args->gid);
	return 0;
}

/* Where each shared library will be mounted. A library's top directory ("/lib" of
 * /lib/x86_64-linux-gnu/libc.so.6) is made here, empty: in the jail's mount namespace a
 * tmpfs covers it and holds the directories and empty files the libraries are bound on
 * (mounts.c), so none of those is written to the base directory's file system: a jail
 * needs about 40 fewer inodes, and where creating one is dear (a file system without a
 * journal allocates each new inode after a search past the recently deleted ones: 0.3 ms a
 * file on the development host) that was most of the jail's cost. A library in "/" itself
 * gets its empty file here, as it has no directory to cover. */
static int make_library_dirs(const struct jail *j)
{
	char path[4096];
	for (size_t i = 0; i < j->libs.n; i++) {
		const char *lib = j->libs.paths[i];
		size_t top = jail_lib_top_len(lib);
		int ret = 0;
		if (!top)
			ret = jail_make_empty_file(j->root, lib);
		else if ((top == 4 && (!strncmp(lib, "/dev", 4) || !strncmp(lib, "/run", 4))) ||
			 (top - 1 == strlen(j->args->exec_name) && !strncmp(lib + 1, j->args->exec_name, top - 1)))
			ret = jail_err(EINVAL, "shared library %s: its directory %.*s is the jail's own", lib,
				       (int)top, lib);
		else if (jail_lib_top_seen(&j->libs, i))
			continue;
		else if (!(ret = jail_path(path, sizeof(path), "%s%.*s", j->root, (int)top, lib)) &&
			 mkdir(path, 0755) < 0)
			ret = jail_err(errno, "mkdir %s (for the shared libraries)", path);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int jail_root_build(struct jail *j)
{
	const struct jail_args *a = j->args;
	char path[4096];
	int ret = jail_path(j->id_dir, sizeof(j->id_dir), "%s/%s/%s", a->base_dir, a->exec_name,
			    a->id);
	if (!ret)
		ret = jail_path(j->root, sizeof(j->root), "%s/root", j->id_dir);
	if (!ret)
		ret = jail_path(path, sizeof(path), "%s/%s", a->base_dir, a->exec_name);
	if (!ret)
		ret = jail_mkdir_p(path, 0755);
	if (ret)
		return ret;
	if (mkdir(j->id_dir, 0755) < 0) {
		if (errno == EEXIST)
			return jail_err(EEXIST, "jail %s already exists: id '%s' is in use or was used "
					"(remove the directory to reuse the id)", j->id_dir, a->id);
		return jail_err(errno, "mkdir %s", j->id_dir);
	}
	j->id_dir_created = true;
	if (mkdir(j->root, 0755) < 0)
		return jail_err(errno, "mkdir %s", j->root);
	ret = jail_path(path, sizeof(path), "%s/%s", j->root, a->exec_name);
	if (!ret)
		ret = jail_copy_file(a->exec_file, path, 0755);
	if (!ret)
		ret = jail_devices_plan(j);
	if (!ret)
		ret = jail_path(path, sizeof(path), "%s/dev", j->root);
	if (!ret && mkdir(path, 0755) < 0)
		ret = jail_err(errno, "mkdir %s (for the device nodes' tmpfs)", path);
	if (!ret)
		ret = jail_path(path, sizeof(path), "%s/run", j->root);
	if (!ret && mkdir(path, 0755) < 0)
		ret = jail_err(errno, "mkdir %s", path);
	if (!ret)
		ret = make_library_dirs(j);
	if (!ret)
		ret = hold(path, &j->run_fd);
	if (!ret)
		ret = hold(j->root, &j->root_fd);
	return ret;
}
