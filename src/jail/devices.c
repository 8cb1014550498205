/* The device nodes inside the jail: what petrel opens after it has no privileges left.
 * mknod works whether or not the host has the device (only opening it needs the driver). */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

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
	if (mknod(path, S_IFCHR | 0660, makedev(major, minor)) < 0)
		return jail_err(errno, "mknod %s (char %u:%u)", path, major, minor);
	if (chown(path, j->args->uid, j->args->gid) < 0)
		return jail_err(errno, "chown %s to %u:%u", path, j->args->uid, j->args->gid);
	return 0;
}

int jail_devices_create(const struct jail *j)
{
	char path[4096];
	unsigned major, minor;
	int ret = jail_path(path, sizeof(path), "%s/dev/net", j->root);
	if (!ret)
		ret = jail_mkdir_p(path, 0755);
	if (!ret)
		ret = make_node(j, "/dev/kvm", 10, 232);
	if (!ret)
		ret = make_node(j, "/dev/net/tun", 10, 200);
	if (!ret)
		ret = make_node(j, "/dev/urandom", 1, 9);
	if (!ret)
		ret = make_node(j, "/dev/null", 1, 3);
	if (ret)
		return ret;
	int err = userfaultfd_minor(&major, &minor);
	if (err == -ENOENT)
		return 0;   /* a kernel without /dev/userfaultfd (before 6.1): nothing to create */
	if (err < 0)
		return jail_err(err, "read /sys/class/misc/userfaultfd/dev");
	return make_node(j, "/dev/userfaultfd", major, minor);
}
