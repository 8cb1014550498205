/* Opening a state file and finishing a memory file: what loading, chains, info, merge and
 * saving all do the same way. */
#include "snapshot/state_file.h"
#include "util/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

static int open_reader(const char *what, struct snap_state_file *f, const uint8_t *buf, size_t len,
		       char *err, size_t errlen)
{
	int e;
	if ((e = snap_open(&f->r, buf, len, err, errlen)) < 0 ||
	    (e = snap_vm_read(&f->r, &f->vm, err, errlen)) < 0) {
		if (e == -ENOENT)
			e = error_set(err, errlen, -EINVAL, "%s: not a VM snapshot (no VM section)", what);
		snap_state_close(f);
		return e;
	}
	return 0;
}

int snap_state_open(const char *path, struct snap_state_file *f, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	int e = snap_read_file(path, &f->buf, &f->len, err, errlen);
	return e < 0 ? e : open_reader(path, f, f->buf, f->len, err, errlen);
}

int snap_state_open_buf(const uint8_t *buf, size_t len, struct snap_state_file *f, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f)); /* buf stays the caller's: close frees nothing */
	return open_reader("the VM state", f, buf, len, err, errlen);
}

void snap_state_close(struct snap_state_file *f)
{
	free(f->buf);
	f->buf = NULL;
}

int snap_mem_commit(int fd, const char *tmp, const char *path, const uint8_t id[16], int e,
		    char *err, size_t errlen)
{
	if (!e && fsync(fd) < 0)
		e = -errno;
	/* The id pairs the memory file with its state file; file systems without user xattrs
	 * just do without the check. */
	if (!e && fsetxattr(fd, SNAP_XATTR, id, 16, 0) < 0 && errno != ENOTSUP && errno != EOPNOTSUPP)
		e = -errno;
	close(fd);
	if (!e && rename(tmp, path) < 0)
		e = -errno;
	if (e) {
		unlink(tmp);
		if (!err[0])
			error_set(err, errlen, e, "%s: %s", path, strerror(-e));
	}
	return e;
}
