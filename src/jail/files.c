/* File helpers for building a jail: paths, directories, copying, removing a failed jail. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* snprintf that reports a path too long for the buffer (prints nothing: callers name it). */
int jail_path(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size)
		return jail_err(ENAMETOOLONG, "path %.200s...", out);
	return 0;
}

/* mkdir -p; the directories it creates get mode (umask is 0 in the jailer). The whole path
 * is tried first: usually it exists, or only its last component is missing. */
int jail_mkdir_p(const char *path, mode_t mode)
{
	char parent[4096];
	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return jail_err(errno, "mkdir %s", path);
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return jail_err(ENOENT, "mkdir %s", path);
	if ((size_t)(slash - path) >= sizeof(parent))
		return jail_err(ENAMETOOLONG, "mkdir %.200s", path);
	memcpy(parent, path, (size_t)(slash - path));
	parent[slash - path] = '\0';
	int ret = jail_mkdir_p(parent, mode);
	if (ret < 0)
		return ret;
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return jail_err(errno, "mkdir %s", path);
	return 0;
}

/* An empty, root-owned file at <root><host path> (a mount point), with its directories. */
int jail_make_empty_file(const char *root, const char *host_path)
{
	char path[4096];
	int ret = jail_path(path, sizeof(path), "%s%s", root, host_path);
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

/* Copies src to a new file dst (which must not exist) with the given mode. copy_file_range
 * keeps the data in the kernel; read/write is the fallback where it is not supported. */
int jail_copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[65536];
	int ret = 0;
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return jail_err(errno, "open %s", src);
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0) {
		ret = jail_err(errno, "create %s", dst);
		close(in);
		return ret;
	}
	bool fallback = false;
	for (;;) {
		ssize_t n;
		if (!fallback) {
			n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
				      errno == EOPNOTSUPP)) {
				fallback = true;
				continue;
			}
		} else {
			n = read(in, buf, sizeof(buf));
			if (n > 0 && write(out, buf, (size_t)n) != n) {
				ret = jail_err(errno ? errno : EIO, "write %s", dst);
				break;
			}
		}
		if (n < 0) {
			ret = jail_err(errno, "copy %s to %s", src, dst);
			break;
		}
		if (n == 0)
			break;
	}
	if (!ret && fchmod(out, mode) < 0)
		ret = jail_err(errno, "chmod %s", dst);
	close(in);
	if (close(out) < 0 && !ret)
		ret = jail_err(errno, "close %s", dst);
	return ret;
}

/* Empty the directory open as dfd (device dev), entry by entry relative to it: a name is
 * never followed (a link is removed as a link), a directory is entered only through
 * O_NOFOLLOW and only on the same file system, so whatever the jail's owner renames or swaps
 * meanwhile, nothing outside the tree is touched. depth bounds the recursion. */
static void empty_dir(int dfd, dev_t dev, const char *path, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			continue;
		int sub = errno == EISDIR && depth < 64
				  ? openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
				  : -1;
		struct stat st;
		if (sub >= 0 && fstat(sub, &st) == 0 && st.st_dev == dev) {
			empty_dir(sub, dev, path, depth + 1);
			if (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0)
				continue;
		} else if (sub >= 0) {
			close(sub);
		}
		jail_err(errno, "cleanup: remove %s/.../%s", path, e->d_name);
	}
	closedir(d);
}

/* rm -rf of a jail's directory, safe against a tree its owner changes meanwhile. */
int jail_remove_tree(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return jail_err(err, "cleanup: open %s", path);
	}
	empty_dir(fd, st.st_dev, path, 0);
	if (rmdir(path) < 0)
		return jail_err(errno, "cleanup: remove %s", path);
	return 0;
}
