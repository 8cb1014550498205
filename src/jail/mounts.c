/* The jailed process's view of the file system: a new mount namespace whose root is the
 * jail, with nothing of the host left in it but the exec file's shared libraries.
 *
 *   unshare(CLONE_NEWNS); make every mount private (nothing propagates back to the host);
 *   bind-mount the jail root on itself (pivot_root needs a mount point), nosuid, and with
 *   dev and exec allowed whatever the host mount of the base directory says (/<exec name>
 *   must run there, and a block device put into the jail for a drive must open); a tmpfs on
 *   /dev with the device nodes (devices.c); a tmpfs on each top directory of the shared libraries
 *   (/lib, /lib64, ...) with an empty file for each library, which is bound read-only on
 *   it, then the tmpfs made read-only too; root/ and root/run handed to uid:gid (by
 *   descriptor: nothing is done by path in the tree after it); pivot_root(".", ".") and
 *   detach the old root stacked on top.
 *
 * --rootless: the same, in the user namespace made just before (userns.c). Mounts copied
 * from the host's namespace are locked there: their nodev, noexec, nosuid and read-only
 * flags cannot be cleared, so the jail's bind keeps the ones its file system has (a base
 * directory on a noexec file system cannot run petrel), and the old root can only be
 * detached whole, which is what happens. The host devices the caller may open are
 * bind-mounted on their files on the /dev tmpfs (devices.c).
 *
 * The host sees none of this: the mounts die with the namespace, nothing is unmounted on
 * the host, and nothing needs cleaning up there. */
#include "jail/jail.h"

#include <errno.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

static int bind_library(const struct jail *j, const char *host_path)
{
	char target[4096];
	int ret = jail_path(target, sizeof(target), "%s%s", j->root, host_path);
	if (ret < 0)
		return ret;
	if (mount(host_path, target, NULL, MS_BIND, NULL) < 0)
		return jail_err(errno, "bind-mount %s on %s", host_path, target);
	if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV,
		  NULL) < 0)
		return jail_err(errno, "remount %s read-only", target);
	return 0;
}

/* The tmpfs on a library's top directory in the jail (root.c made the directory): mounted
 * (flags 0) or made read-only (MS_REMOUNT), once per top directory. */
static int library_tmpfs(const struct jail *j, size_t i, unsigned long flags)
{
	const char *lib = j->libs.paths[i];
	size_t top = jail_lib_top_len(lib);
	char target[4096];
	int ret = !top || jail_lib_top_seen(&j->libs, i)
			  ? 1
			  : jail_path(target, sizeof(target), "%s%.*s", j->root, (int)top, lib);
	if (ret)
		return ret < 0 ? ret : 0;
	return jail_tmpfs(target, flags | MS_NODEV, "mode=0755,size=1m,nr_inodes=4096");
}

int jail_tmpfs(const char *dir, unsigned long flags, const char *opts)
{
	flags |= MS_NOSUID | MS_NOEXEC;
	if (mount("tmpfs", dir, "tmpfs", flags, opts) < 0)
		return jail_err(errno, "%s a tmpfs on %s", flags & MS_REMOUNT ? "make read-only" : "mount", dir);
	return 0;
}

static int bind_libraries(const struct jail *j)
{
	int ret = 0;
	for (size_t i = 0; i < j->libs.n && !ret; i++)
		ret = library_tmpfs(j, i, 0);
	for (size_t i = 0; i < j->libs.n && !ret; i++) {
		const char *lib = j->libs.paths[i];
		if (jail_lib_top_len(lib))
			ret = jail_make_empty_file(j->root, lib);
		if (!ret)
			ret = bind_library(j, lib);
	}
	for (size_t i = 0; i < j->libs.n && !ret; i++)
		ret = library_tmpfs(j, i, MS_REMOUNT | MS_RDONLY);
	return ret;
}

int jail_enter_root(struct jail *j)
{
	struct statvfs sv;
	if (unshare(CLONE_NEWNS) < 0)
		return jail_err(errno, "unshare(CLONE_NEWNS)");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return jail_err(errno, "make / private in the new mount namespace");
	if (mount(j->root, j->root, NULL, MS_BIND | MS_REC, NULL) < 0)
		return jail_err(errno, "bind-mount %s on itself", j->root);
	if (statvfs(j->root, &sv) < 0)
		return jail_err(errno, "statvfs %s", j->root);
	unsigned long keep = sv.f_flag & ST_RDONLY ? MS_RDONLY : 0;
	if (j->args->rootless)
		keep |= (sv.f_flag & ST_NODEV ? MS_NODEV : 0) | (sv.f_flag & ST_NOEXEC ? MS_NOEXEC : 0);
	if (mount(NULL, j->root, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | keep, NULL) < 0)
		return jail_err(errno, "remount %s nosuid", j->root);
	int ret = jail_devices_make(j);
	if (!ret)
		ret = bind_libraries(j);
	if (!ret) /* the last step as root by path in the tree: now it may be petrel's */
		ret = jail_root_hand_over(j);
	if (ret < 0)
		return ret;
	if (chdir(j->root) < 0)
		return jail_err(errno, "chdir %s", j->root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return jail_err(errno, "pivot_root into %s", j->root);
	if (umount2(".", MNT_DETACH) < 0)
		return jail_err(errno, "detach the old root");
	if (chdir("/") < 0)
		return jail_err(errno, "chdir / in the jail");
	return 0;
}
