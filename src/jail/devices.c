/* The device nodes inside the jail: what petrel opens after it has no privileges left.
 *
 * They live on a tmpfs mounted on the jail's /dev in its mount namespace (never on the base
 * directory's file system: no device node is left on disk, and no inode is written there
 * for them). Which devices go in is decided on the host
 * (jail_devices_plan, before anything is built); the tmpfs and the nodes are made in the
 * namespace before the pivot (jail_devices_make), and the tmpfs is then made read-only.
 *
 * As root: mknod, owned by uid:gid, mode 0600. mknod works whether or not the host has the
 * device (only opening it needs the driver).
 * --rootless: an unprivileged user cannot mknod (and a device node made in a user namespace
 * would not open). Instead each host device the caller may open for reading and writing
 * gets an empty file on the tmpfs, and the host node is bind-mounted on it. One the caller
 * may not open is left out, with a note on stderr. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

const struct jail_device jail_devices[] = {
	{ "/dev/kvm", 10, 232 },
	{ "/dev/net/tun", 10, 200 },
	{ "/dev/urandom", 1, 9 },
	{ "/dev/null", 1, 3 },
	{ "/dev/userfaultfd", 10, ~0u },
};
const size_t jail_n_devices = sizeof(jail_devices) / sizeof(jail_devices[0]);

/* The dynamic misc minor of userfaultfd ("10:257"); -ENOENT where the kernel has none. */
static int userfaultfd_minor(unsigned *major, unsigned *minor)
{
	FILE *f = fopen("/sys/class/misc/userfaultfd/dev", "re");
	if (!f)
		return -errno;
	int n = fscanf(f, "%u:%u", major, minor);
	fclose(f);
	return n == 2 ? 0 : -EINVAL;
}

static int make_node(const struct jail *j, const char *path, unsigned major, unsigned minor)
{
	if (mknod(path, S_IFCHR | 0600, makedev(major, minor)) < 0) /* petrel's alone, not its group's */
		return jail_err(errno, "mknod %s (char %u:%u)", path, major, minor);
	if (chown(path, j->args->uid, j->args->gid) < 0)
		return jail_err(errno, "chown %s to %u:%u", path, j->args->uid, j->args->gid);
	return 0;
}

/* --rootless: whether the caller may open the host's node; if not, why not is appended to
 * note. */
static bool may_bind(const struct jail *j, const char *dev, char *note, size_t size)
{
	size_t len = strlen(note);
	struct stat st;
	if (stat(dev, &st) < 0 || !S_ISCHR(st.st_mode)) {
		snprintf(note + len, size - len, ", %s (the host has none)", dev);
		return false;
	}
	if (faccessat(AT_FDCWD, dev, R_OK | W_OK, AT_EACCESS) < 0) {
		snprintf(note + len, size - len, ", %s (uid %u may not open it: %s)", dev,
			 j->host_uid, strerror(errno));
		return false;
	}
	return true;
}

int jail_devices_plan(struct jail *j)
{
	char note[1024] = "";
	j->devs = 0;
	for (size_t i = 0; i < jail_n_devices; i++) {
		const struct jail_device *d = &jail_devices[i];
		if (j->args->rootless) {
			if (may_bind(j, d->path, note, sizeof(note)))
				j->devs |= 1u << i;
			continue;
		}
		if (d->minor == ~0u) {
			int err = userfaultfd_minor(&j->ufd_major, &j->ufd_minor);
			if (err == -ENOENT)
				continue;   /* a kernel without /dev/userfaultfd (before 6.1) */
			if (err < 0)
				return jail_err(err, "read /sys/class/misc/userfaultfd/dev");
		}
		j->devs |= 1u << i;
	}
	/* One line: petrel says more when it needs a missing device (no /dev/kvm: no VM). */
	if (note[0])
		fprintf(stderr, "petrel-jailer: note: --rootless: not in the jail: %s\n", note + 2);
	return 0;
}

/* --rootless: the host's node bound on its empty file. The bind keeps the host mount's
 * flags (nodev is not among them on /dev), so it opens; nosuid and noexec are added,
 * read-only and nodev kept if the host mount has them (the user namespace cannot clear
 * them). */
static int bind_node(const char *dev, const char *target)
{
	int fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return jail_err(errno, "create %s (mount point for %s)", target, dev);
	close(fd);
	if (mount(dev, target, NULL, MS_BIND, NULL) < 0)
		return jail_err(errno, "bind-mount %s on %s", dev, target);
	struct statvfs sv;
	if (statvfs(target, &sv) < 0)
		return jail_err(errno, "statvfs %s", target);
	unsigned long keep = (sv.f_flag & ST_RDONLY ? MS_RDONLY : 0) | (sv.f_flag & ST_NODEV ? MS_NODEV : 0);
	if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC | keep, NULL) < 0)
		return jail_err(errno, "remount %s nosuid,noexec", target);
	return 0;
}

/* The tmpfs on the jail's /dev (root.c made the directory), with a mount flag or two more
 * (MS_REMOUNT | MS_RDONLY once the nodes are in). A user namespace's tmpfs is nodev anyway. */
static int dev_tmpfs(const struct jail *j, const char *dir, unsigned long flags)
{
	return jail_tmpfs(dir, flags | (j->args->rootless ? MS_NODEV : 0), "mode=0755,size=64k,nr_inodes=64");
}

int jail_devices_make(const struct jail *j)
{
	char dir[4096], path[4096];
	int ret = jail_path(dir, sizeof(dir), "%s/dev", j->root);
	if (!ret)
		ret = dev_tmpfs(j, dir, 0);
	if (!ret && !(ret = jail_path(path, sizeof(path), "%s/net", dir)) && mkdir(path, 0755) < 0)
		ret = jail_err(errno, "mkdir %s", path);
	for (size_t i = 0; i < jail_n_devices && !ret; i++) {
		const struct jail_device *d = &jail_devices[i];
		if (!(j->devs & (1u << i)))
			continue;
		if ((ret = jail_path(path, sizeof(path), "%s%s", j->root, d->path)) < 0)
			break;
		if (j->args->rootless)
			ret = bind_node(d->path, path);
		else if (d->minor == ~0u)
			ret = make_node(j, path, j->ufd_major, j->ufd_minor);
		else
			ret = make_node(j, path, d->major, d->minor);
	}
	return ret ? ret : dev_tmpfs(j, dir, MS_REMOUNT | MS_RDONLY);
}
