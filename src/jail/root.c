/* The jail's directory tree on the host: <base>/<exec name>/<id>/root with the exec file
 * copy, device nodes, /run, and empty files where the exec file's shared libraries will be
 * bind-mounted (mounts.c). The root and /run belong to uid:gid so petrel can create its API
 * socket; everything else belongs to root. They are handed over last: while the jailer (root)
 * builds the tree by path, no other process may write in it (a symlink planted there would
 * send its mkdir, mknod, chown or file writes to a host file). With --rootless everything
 * belongs to the caller, whose ids are uid:gid inside the jail's user namespace. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A directory built root-owned, to be petrel's: given to uid:gid once the tree is done. */
static int hand_over(const struct jail *j, const char *path)
{
	if (j->args->rootless)
		return 0;   /* the caller's, which is uid:gid in the jail's user namespace */
	if (lchown(path, j->args->uid, j->args->gid) < 0)
		return jail_err(errno, "chown %s to %u:%u", path, j->args->uid, j->args->gid);
	return 0;
}

/* An empty, root-owned file at <root><host path>, with its directories. */
static int make_mount_target(const struct jail *j, const char *host_path)
{
	char path[4096];
	int ret = jail_path(path, sizeof(path), "%s%s", j->root, host_path);
	if (ret < 0)
		return ret;
	char *slash = strrchr(path, '/');
	*slash = '\0';
	ret = jail_mkdir_p(path, 0755);
	*slash = '/';
	if (ret < 0)
		return ret;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0)
		return jail_err(errno, "create %s (mount point for a shared library)", path);
	close(fd);
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
		ret = jail_devices_create(j);
	if (!ret)
		ret = jail_path(path, sizeof(path), "%s/run", j->root);
	if (!ret && mkdir(path, 0755) < 0)
		ret = jail_err(errno, "mkdir %s", path);
	for (size_t i = 0; i < j->libs.n && !ret; i++)
		ret = make_mount_target(j, j->libs.paths[i]);
	if (!ret)
		ret = hand_over(j, path);     /* /run, then the root: the last writes by path */
	if (!ret)
		ret = hand_over(j, j->root);
	return ret;
}
