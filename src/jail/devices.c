/* The device nodes inside the jail: what petrel opens after it has no privileges left.
 *
 * As root: mknod, owned by uid:gid, mode 0600. mknod works whether or not the host has the
 * device (only opening it needs the driver).
 * --rootless: an unprivileged user cannot mknod (and a device node made in a user namespace
 * would not open). Instead each host device the caller may open for reading and writing
 * gets an empty file in the jail, and the host node is bind-mounted on it in the jail's
 * mount namespace (jail_devices_bind). One the caller may not open is left out, with a
 * note on stderr. */
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

static int make_node(const struct jail *j, const char *rel, unsigned major, unsigned minor)
{
	char path[4096];
	int ret = jail_path(path, sizeof(path), "%s%s", j->root, rel);
	if (ret < 0)
		return ret;
	if (mknod(path, S_IFCHR | 0600, makedev(major, minor)) < 0) /* petrel's alone, not its group's */
		return jail_err(errno, "mknod %s (char %u:%u)", path, major, minor);
	if (chown(path, j->args->uid, j->args->gid) < 0)
		return jail_err(errno, "chown %s to %u:%u", path, j->args->uid, j->args->gid);
	return 0;
}

/* --rootless: an empty file to bind the host's node on, if the caller may open that;
 * otherwise why not is appended to note. */
static int make_bind_target(struct jail *j, size_t i, char *note, size_t size)
{
	const char *dev = jail_devices[i].path;
	size_t len = strlen(note);
	char path[4096];
	struct stat st;
	if (stat(dev, &st) < 0 || !S_ISCHR(st.st_mode)) {
		snprintf(note + len, size - len, ", %s (the host has none)", dev);
		return 0;
	}
	if (faccessat(AT_FDCWD, dev, R_OK | W_OK, AT_EACCESS) < 0) {
		snprintf(note + len, size - len, ", %s (uid %u may not open it: %s)", dev,
			 j->host_uid, strerror(errno));
		return 0;
	}
	int ret = jail_path(path, sizeof(path), "%s%s", j->root, dev);
	if (ret < 0)
		return ret;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return jail_err(errno, "create %s (mount point for %s)", path, dev);
	close(fd);
	j->dev_bound |= 1u << i;
	return 0;
}

int jail_devices_create(struct jail *j)
{
	char path[4096];
	unsigned major, minor;
	char note[1024] = "";
	int ret = jail_path(path, sizeof(path), "%s/dev/net", j->root);
	if (!ret)
		ret = jail_mkdir_p(path, 0755);
	for (size_t i = 0; i < jail_n_devices && !ret; i++) {
		const struct jail_device *d = &jail_devices[i];
		if (j->args->rootless) {
			ret = make_bind_target(j, i, note, sizeof(note));
			continue;
		}
		major = d->major;
		minor = d->minor;
		if (minor == ~0u) {
			int err = userfaultfd_minor(&major, &minor);
			if (err == -ENOENT)
				continue;   /* a kernel without /dev/userfaultfd (before 6.1) */
			if (err < 0)
				return jail_err(err, "read /sys/class/misc/userfaultfd/dev");
		}
		ret = make_node(j, d->path, major, minor);
	}
	/* One line: petrel says more when it needs a missing device (no /dev/kvm: no VM). */
	if (!ret && note[0])
		fprintf(stderr, "petrel-jailer: note: --rootless: not in the jail: %s\n", note + 2);
	return ret;
}

/* --rootless, in the jail's mount namespace before the pivot: each host node on its file.
 * The bind keeps the host mount's flags (nodev is not among them on /dev), so it opens. */
int jail_devices_bind(const struct jail *j)
{
	char target[4096];
	for (size_t i = 0; i < jail_n_devices; i++) {
		if (!(j->dev_bound & (1u << i)))
			continue;
		int ret = jail_path(target, sizeof(target), "%s%s", j->root, jail_devices[i].path);
		if (ret < 0)
			return ret;
		if (mount(jail_devices[i].path, target, NULL, MS_BIND, NULL) < 0)
			return jail_err(errno, "bind-mount %s on %s", jail_devices[i].path, target);
		/* nosuid, noexec added; read-only and nodev kept if the host mount has them (the
		 * user namespace cannot clear them). */
		struct statvfs sv;
		if (statvfs(target, &sv) < 0)
			return jail_err(errno, "statvfs %s", target);
		unsigned long keep = (sv.f_flag & ST_RDONLY ? MS_RDONLY : 0) |
				     (sv.f_flag & ST_NODEV ? MS_NODEV : 0);
		if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NOEXEC | keep,
			  NULL) < 0)
			return jail_err(errno, "remount %s nosuid,noexec", target);
	}
	return 0;
}
