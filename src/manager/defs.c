/* The definitions directory: one <name>.json per VM, written atomically (a temporary file in
 * the same directory, fsync, rename over the old one, fsync of the directory), so a power cut
 * or a full disk leaves the old definition or the new one, never half of one. */
#include "manager/defs.h"
#include "manager/definition.h"
#include "util/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int defs_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int defs_write_atomic(const char *dir, const char *name, const char *text, char *err, size_t errlen)
{
	return defs_write_mode(dir, name, text, 0640, err, errlen);
}

int defs_write_mode(const char *dir, const char *name, const char *text, mode_t mode, char *err, size_t errlen)
{
	char file[NAME_MAX + 1];
	snprintf(file, sizeof(file), "%s.json", name);
	return defs_write_file(dir, file, text, mode, err, errlen);
}

int defs_write_file(const char *dir, const char *file, const char *text, mode_t mode, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, file);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot write %s: %s", tmp, strerror(errno));
	size_t len = strlen(text), off = 0;
	int e = fchmod(fd, mode) < 0 ? errno : 0;
	while (off < len && !e) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno != EINTR)
			e = errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (!e && fsync(fd) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		unlink(tmp);
		return error_set(err, errlen, -e, "cannot write %s: %s (the old one, if any, is kept)", path, strerror(e));
	}
	int r = defs_sync_dir(dir);
	if (r < 0)
		return error_set(err, errlen, r, "cannot sync %s: %s", dir, strerror(-r));
	return 0;
}

int defs_remove(const char *dir, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s.json", dir, name);
	if (unlink(path) < 0 && errno != ENOENT)
		return error_set(err, errlen, -errno, "cannot remove %s: %s", path, strerror(errno));
	defs_sync_dir(dir);
	return 0;
}

int defs_read(const char *dir, const char *file, char **out, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return error_set(err, errlen, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > DEF_MAX_BYTES) {
		close(fd);
		return error_set(err, errlen, -EINVAL, "%s: not a regular file of at most %d bytes", path,
			       DEF_MAX_BYTES);
	}
	char *buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return error_set(err, errlen, -ENOMEM, "%s: out of memory", path);
	}
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == (size_t)st.st_size)
			break;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	return (int)len;
}

void defs_each_json(const char *dir, bool (*fn)(const char *name, void *arg), void *arg)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	bool more = true;
	while (more && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n < 6 || n - 5 > VM_NAME_MAX || strcmp(de->d_name + n - 5, ".json"))
			continue;
		char name[VM_NAME_MAX + 1];
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
		more = fn(name, arg);
	}
	closedir(d);
}
