/* --rootless: the jail for a caller without root, built with a user namespace.
 *
 * The process that becomes petrel gets a new user namespace (unshare, or clone with
 * --new-pid-ns: spawn.c) in which it holds every capability, and maps exactly one id each
 * way: the caller's uid to --uid and the caller's gid to --gid ("deny" in setgroups first,
 * which an unprivileged map needs). The capabilities are what the next steps need (mount
 * namespace, bind mounts, pivot_root); they are valid only over namespaces this user
 * namespace owns, never over the host's objects, and they end at the execve (exec.c).
 *
 * When the host refuses, the message says why as far as it can be known: the limit in
 * /proc/sys/user/max_user_namespaces (0 turns user namespaces off), Debian's
 * kernel.unprivileged_userns_clone, Ubuntu's AppArmor restriction, a seccomp filter. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A sysctl's value as a number, or -1 if it cannot be read (absent on this kernel). */
static long read_sysctl(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

const char *jail_userns_hint(int err, long max_userns, long unpriv_clone, long apparmor,
			     char *buf, size_t size)
{
	if (err < 0)
		err = -err;
	if (max_userns == 0)
		snprintf(buf, size, "user namespaces are disabled on this host "
			 "(/proc/sys/user/max_user_namespaces is 0)");
	else if (err == ENOSPC)
		snprintf(buf, size, "the limit of user namespaces is reached "
			 "(/proc/sys/user/max_user_namespaces is %ld, for this user or a parent "
			 "namespace)", max_userns);
	else if (err == EPERM && unpriv_clone == 0)
		snprintf(buf, size, "the kernel refuses user namespaces to unprivileged users "
			 "(/proc/sys/kernel/unprivileged_userns_clone is 0)");
	else if ((err == EPERM || err == EACCES) && apparmor == 1)
		snprintf(buf, size, "AppArmor restricts unprivileged user namespaces "
			 "(/proc/sys/kernel/apparmor_restrict_unprivileged_userns is 1)");
	else if (err == EPERM)
		snprintf(buf, size, "the kernel refuses a user namespace here (inside a chroot, "
			 "or a seccomp filter or LSM forbids it)");
	else if (err == EINVAL)
		snprintf(buf, size, "the kernel refuses a user namespace to this process "
			 "(threads, or an option it does not support)");
	else
		snprintf(buf, size, "user namespaces are not available");
	return buf;
}

static const char *hint(int err, char *buf, size_t size)
{
	return jail_userns_hint(err, read_sysctl("/proc/sys/user/max_user_namespaces"),
				read_sysctl("/proc/sys/kernel/unprivileged_userns_clone"),
				read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"),
				buf, size);
}

int jail_userns_refused(int err, const char *step)
{
	char why[256];
	return jail_err(err, "--rootless: %s: %s", step, hint(err, why, sizeof(why)));
}

static int write_proc(const char *file, const char *text)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/%s", file);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return jail_userns_refused(errno, path);
	ssize_t len = (ssize_t)strlen(text);
	int ret = 0;
	if (write(fd, text, (size_t)len) != len) {
		char step[128];
		snprintf(step, sizeof(step), "write '%.*s' to %s", (int)strcspn(text, "\n"), text,
			 path);
		ret = jail_userns_refused(errno ? errno : EIO, step);
	}
	close(fd);
	return ret;
}

int jail_userns_map(const struct jail *j)
{
	char map[64];
	int ret;
	snprintf(map, sizeof(map), "%u %u 1\n", j->args->uid, j->host_uid);
	if ((ret = write_proc("uid_map", map)) < 0)
		return ret;
	/* An unprivileged gid map needs setgroups(2) off for good in this namespace: then no
	 * one in it can drop a group to get past a "deny this group" permission. */
	if ((ret = write_proc("setgroups", "deny")) < 0)
		return ret;
	snprintf(map, sizeof(map), "%u %u 1\n", j->args->gid, j->host_gid);
	return write_proc("gid_map", map);
}

bool jail_userns_is_host_root(void)
{
	char buf[256];
	unsigned long inside, outside, count;
	if (geteuid() != 0)
		return false;
	FILE *f = fopen("/proc/self/uid_map", "re");
	if (!f)
		return true;   /* cannot tell: assume the worst */
	bool root = false;
	while (!root && fgets(buf, sizeof(buf), f))
		root = sscanf(buf, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 &&
		       outside == 0;
	fclose(f);
	return root;
}

int jail_userns_enter(const struct jail *j)
{
	if (unshare(CLONE_NEWUSER) < 0)
		return jail_userns_refused(errno, "unshare(CLONE_NEWUSER)");
	return jail_userns_map(j);
}
