/* File helpers of petreld (fsutil.h): copying, moving and removing files, and the directories
 * with a meta.json that snapshots (snapshot.c) and backups (backup.c) are. */
#include "manager/fsutil.h"
#include "manager/defs.h"
#include "util/error.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int copy_file(const char *src, const char *dst)
{
	return copy_file_mode(src, dst, 0644, false);
}

#define SPARSE_BLOCK 65536

/* The data of in from off to end (a data extent) into out at the same offsets, its blocks of
 * zeros left holes. */
static int copy_extent(int in, int out, uint8_t *buf, off_t off, off_t end)
{
	while (off < end) {
		size_t want = (size_t)(end - off < SPARSE_BLOCK ? end - off : SPARSE_BLOCK);
		ssize_t n = pread(in, buf, want, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;   /* the source shrank under us */
		for (ssize_t done = mem_is_zero(buf, (size_t)n) ? n : 0; done < n;) {
			ssize_t w = pwrite(out, buf + done, (size_t)(n - done), off + done);
			if (w < 0 && errno != EINTR)
				return -errno;
			done += w > 0 ? w : 0;
		}
		off += n;
	}
	return 0;
}

int copy_sparse(const char *src, const char *dst, mode_t mode)
{
	_cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	struct stat st;
	if (fstat(in, &st) < 0)
		return -errno;
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode), e = 0;
	if (out < 0)
		return -errno;
	uint8_t *buf = malloc(SPARSE_BLOCK);
	if (!buf)
		e = -ENOMEM;
	for (off_t off = 0; !e && off < st.st_size;) {
		off_t data = lseek(in, off, SEEK_DATA), hole;
		if (data < 0 && errno == ENXIO)
			break;   /* only a hole is left */
		if (data < 0 || (hole = lseek(in, data, SEEK_HOLE)) < 0) {
			e = -errno;
			break;
		}
		e = copy_extent(in, out, buf, data, hole < st.st_size ? hole : st.st_size);
		off = hole;
	}
	free(buf);
	if (!e && (ftruncate(out, st.st_size) < 0 || fchmod(out, mode) < 0 || fsync(out) < 0))
		e = -errno;
	if (close(out) < 0 && !e)
		e = -errno;
	if (e)
		unlink(dst);
	return e;
}

int move_file(const char *src, const char *dst)
{
	if (rename(src, dst) == 0)
		return 0;
	if (errno != EXDEV)
		return -errno;
	int e = copy_file(src, dst);
	if (e == 0)   /* a failed copy leaves no half file (copy_file_mode) and keeps the source */
		unlink(src);
	return e;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

int rm_tree(const char *dir)
{
	return nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int meta_dir_finish(const char *tmp, const char *dir, json_t *meta, char *err, size_t errlen)
{
	char *text = meta ? json_dumps(meta, JSON_INDENT(2)) : NULL;
	json_decref(meta);
	int e = text ? defs_write_atomic(tmp, "meta", text, err, errlen) : -ENOMEM;
	free(text);
	if (!e && rename(tmp, dir) < 0)
		e = error_set(err, errlen, -errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (e < 0)
		rm_tree(tmp);
	return e;
}

json_t *meta_dir_read(const char *dir)
{
	char err[256];
	_cleanup_free_ char *text = NULL;
	return defs_read(dir, "meta.json", &text, err, sizeof(err)) >= 0 ? json_loads(text, 0, NULL) : NULL;
}

json_t *meta_dirs_list(const char *parent)
{
	json_t *a = json_array();
	DIR *d = opendir(parent);
	if (!d)
		return a;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strchr(de->d_name, '.'))
			continue; /* ., .., and <name>.partial */
		char sub[PATH_MAX + 320];
		snprintf(sub, sizeof(sub), "%s/%s", parent, de->d_name);
		json_t *o = meta_dir_read(sub);
		if (!o)
			continue;
		json_object_del(o, "definition");
		json_object_set_new(o, "dir", json_string(sub));
		struct stat st;
		snprintf(sub, sizeof(sub), "%s/%s/vm.mem", parent, de->d_name);
		if (stat(sub, &st) == 0)
			json_object_set_new(o, "mem_bytes", json_integer((json_int_t)st.st_size));
		json_array_append_new(a, o);
	}
	closedir(d);
	return a;
}
