/* Backups: a consistent point-in-time copy of a running VM — memory, device state and its
 * disks — in one directory. The guest is paused only while the state is captured and the disk
 * images are cloned: a reflink (FICLONE: no data copied) where the file system can, a copy
 * otherwise (the guest then stays paused for the copy). The backup's definition names the
 * copies, so loading it gives the VM back as it was, on disks of its own. */
#include "snapshot/page_map.h"
#include "snapshot/snapshot.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct fds {
	int in, out;
};

/* Where copy_file_range cannot copy (a disk that is a block device): read and write; blocks
 * of zeroes are left as holes. */
static int copy_rw(const struct fds *f, off_t o, off_t end)
{
	const size_t cap = 1 << 20;
	uint8_t *buf = malloc(cap);
	int e = buf ? 0 : -ENOMEM;
	while (!e && o < end) {
		size_t want = end - o < (off_t)cap ? (size_t)(end - o) : cap;
		ssize_t n = pread(f->in, buf, want, o);
		if (n <= 0) {
			e = n < 0 ? -errno : -EIO;
			break;
		}
		bool zero = buf[0] == 0 && memcmp(buf, buf + 1, (size_t)n - 1) == 0;
		for (ssize_t w = 0; !zero && !e && w < n;) {
			ssize_t k = pwrite(f->out, buf + w, (size_t)(n - w), o + w);
			if (k <= 0)
				e = k < 0 ? -errno : -EIO;
			else
				w += k;
		}
		o += n;
	}
	free(buf);
	return e;
}

/* One data extent of the image, copied to the same offset (page_map.h's extent walk). */
static int copy_extent(void *ctx, uint64_t off, uint64_t len)
{
	const struct fds *f = ctx;
	off_t o_in = (off_t)off, o_out = (off_t)off, end = (off_t)(off + len);
	while (o_in < end) {
		ssize_t n = copy_file_range(f->in, &o_in, f->out, &o_out, (size_t)(end - o_in), 0);
		if (n < 0 && (errno == EINVAL || errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS))
			return copy_rw(f, o_in, end);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
	}
	return 0;
}

/* src -> dst: reflink, else a copy that keeps holes. *how says which. */
static int clone_file(const char *src, const char *dst, const char **how)
{
	int in = open(src, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (in < 0)
		return -errno;
	unlink(dst); /* a new file of our own: never through a link planted at its name */
	int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		int e = -errno;
		close(in);
		return e;
	}
	int e = 0;
	*how = "reflink";
	if (ioctl(out, FICLONE, in) < 0) {
		*how = "copy";
		struct stat st;
		uint64_t size = 0;
		e = fstat(in, &st) < 0 ? -errno : 0;
		if (!e)
			size = (uint64_t)st.st_size;
		/* a block device's size is not in st_size, and it has no extents to walk */
		bool blk = !e && S_ISBLK(st.st_mode);
		if (blk && ioctl(in, BLKGETSIZE64, &size) < 0)
			e = -errno;
		if (!e && ftruncate(out, (off_t)size) < 0)
			e = -errno;
		struct fds f = { in, out };
		if (!e) /* any error of the walk fails the copy: a copy cut short is no backup */
			e = blk ? copy_extent(&f, 0, size) : snap_mem_runs(in, NULL, 0, size, copy_extent, &f);
	}
	if (!e && fsync(out) < 0)
		e = -errno;
	close(in);
	close(out);
	return e;
}

/* A destination that is one of the VM's own disk images (a VM loaded from a backup runs on
 * that directory's copies): copied onto itself it would be truncated, and a copy renamed over
 * it would leave the VM writing to an unlinked file. */
static int own_disk(const struct vm_config *cfg, const char *dst, char *err, size_t errlen)
{
	struct stat d, s;
	if (stat(dst, &d) < 0)
		return 0;
	for (unsigned j = 0; j < cfg->ndrives; j++) {
		if (stat(cfg->drives[j].path_on_host, &s) == 0 && s.st_dev == d.st_dev &&
		    s.st_ino == d.st_ino)
			return error_set(err, errlen, -EEXIST,
					 "%s is drive %s's own image: back up into another directory", dst,
					 cfg->drives[j].drive_id);
	}
	return 0;
}

int snapshot_backup(struct vm *vm, const char *dir, char *err, size_t errlen)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "%s: %s", dir, strerror(errno));
	const struct vm_config *cfg = vm_config(vm);
	char *paths[DEVICES_MAX_DRIVES] = { 0 }, *tmps[DEVICES_MAX_DRIVES] = { 0 }, state[4096], mem[4096];
	snprintf(state, sizeof(state), "%s/vm.state", dir);
	snprintf(mem, sizeof(mem), "%s/vm.mem", dir);
	int e = 0;
	for (unsigned i = 0; !e && i < cfg->ndrives; i++)
		if (asprintf(&paths[i], "%s/%s.img", dir, cfg->drives[i].drive_id) < 0 ||
		    asprintf(&tmps[i], "%s.tmp.%d", paths[i], (int)getpid()) < 0)
			e = -ENOMEM;
	for (unsigned i = 0; !e && i < cfg->ndrives; i++)
		e = own_disk(cfg, paths[i], err, errlen);
	uint64_t t0 = now_ns();
	bool was_paused = vm_is_paused(vm);
	if (!e && (e = vm_pause(vm)) < 0)
		e = error_set(err, errlen, e, "cannot pause the VM: %s", strerror(-e));
	uint64_t t1 = now_ns();
	if (!e) {
		/* The disks first, under temporary names, then the snapshot (memory, then state), then
		 * the disks into place: a backup that fails leaves the one before it as it was. */
		for (unsigned i = 0; !e && i < cfg->ndrives; i++) {
			const char *how = "?";
			if ((e = clone_file(cfg->drives[i].path_on_host, tmps[i], &how)) < 0)
				e = error_set(err, errlen, e, "disk %s -> %s: %s",
					      cfg->drives[i].path_on_host, paths[i], strerror(-e));
			else
				log_info("backup: disk %s -> %s (%s)", cfg->drives[i].path_on_host, paths[i], how);
		}
		struct snapshot_create_opts o = { .state_path = state, .mem_path = mem, .drive_paths = paths };
		if (!e)
			e = snapshot_create(vm, &o, err, errlen);
		for (unsigned i = 0; !e && i < cfg->ndrives; i++)
			if (rename(tmps[i], paths[i]) < 0) {
				e = error_set(err, errlen, -errno, "disk %s: %s", paths[i], strerror(errno));
			}
		for (unsigned i = 0; e && i < cfg->ndrives; i++)
			unlink(tmps[i]);
		if (!was_paused)
			vm_resume(vm);
	}
	if (!e)
		log_info("backup: %s, guest paused for %.1f ms (%.1f ms in all)", dir,
			 (double)(now_ns() - t1) / 1e6, (double)(now_ns() - t0) / 1e6);
	for (unsigned i = 0; i < DEVICES_MAX_DRIVES; i++) {
		free(paths[i]);
		free(tmps[i]);
	}
	return e;
}
