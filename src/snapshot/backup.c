/* Backups: a consistent point-in-time copy of a running VM — memory, device state and its
 * disks — in one directory. The guest is paused only while the state is captured and the disk
 * images are cloned: a reflink (FICLONE: no data copied) where the file system can, a copy
 * otherwise (the guest then stays paused for the copy). The backup's definition names the
 * copies, so loading it gives the VM back as it was, on disks of its own. */
#include "devices/virtio/blk/blk.h"
#include "snapshot/backup_member.h"
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

/* The previous member's name for drive id, or NULL. */
static const char *backing_of(const struct snapshot_backup_opts *o, const char *id)
{
	for (unsigned j = 0; j < o->nbacking; j++)
		if (!strcmp(o->backing[j].drive_id, id))
			return o->backing[j].file;
	return NULL;
}

/* Drive i's member into tmp: the whole image, or the chunks its bitmap marks. */
static int write_member(struct vm *vm, unsigned i, const char *src, const char *tmp, const char *backing,
			const struct blk_backup_take *t, char sha256[65], char *err, size_t errlen)
{
	struct virtio_blk *b = vm_blk(vm, i);
	if (t->incremental && b)
		return backup_member_incremental(b, tmp, backing, t, sha256, err, errlen);
	const char *how = "?";
	int e = clone_file(src, tmp, &how);
	if (e < 0)
		return error_set(err, errlen, e, "disk %s -> %s: %s", src, tmp, strerror(-e));
	log_info("backup: disk %s -> %s (%s)", src, tmp, how);
	return 0;
}

/* After the members are in place (ok) or not: each drive's bitmap cleared or its marks kept,
 * and the answer's per-disk fields. */
static void finish_disks(struct vm *vm, const struct snapshot_backup_opts *o, struct blk_backup_take *takes,
			 char *const *paths, struct snapshot_backup_result *res, bool ok)
{
	const struct vm_config *cfg = vm_config(vm);
	for (unsigned i = 0; i < cfg->ndrives; i++) {
		struct virtio_blk *b = vm_blk(vm, i);
		struct backup_disk_result *d = &res->disks[i];
		if (b)
			virtio_blk_backup_end(b, &takes[i], ok, o->chain_id);
		if (!ok)
			continue;
		char hexerr[200];
		d->bytes_written = backup_member_allocated(paths[i]);
		if (!d->sha256[0] && backup_member_sha256(paths[i], d->sha256, hexerr, sizeof(hexerr)) < 0)
			log_warn("backup: %s", hexerr);
	}
}

int snapshot_backup(struct vm *vm, const char *dir, char *err, size_t errlen)
{
	struct snapshot_backup_opts o = { .dir = dir, .mode = BACKUP_FULL };
	struct snapshot_backup_result res;
	return snapshot_backup_run(vm, &o, &res, err, errlen);
}

int snapshot_backup_run(struct vm *vm, const struct snapshot_backup_opts *o, struct snapshot_backup_result *res,
			char *err, size_t errlen)
{
	const char *dir = o->dir;
	memset(res, 0, sizeof(*res));
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return error_set(err, errlen, -errno, "%s: %s", dir, strerror(errno));
	const struct vm_config *cfg = vm_config(vm);
	char *paths[DEVICES_MAX_DRIVES] = { 0 }, *tmps[DEVICES_MAX_DRIVES] = { 0 }, state[4096], mem[4096];
	struct blk_backup_take takes[DEVICES_MAX_DRIVES] = { 0 };
	snprintf(state, sizeof(state), "%s/vm.state", dir);
	snprintf(mem, sizeof(mem), "%s/vm.mem", dir);
	int e = 0;
	for (unsigned i = 0; !e && i < cfg->ndrives; i++)
		if (o->mode == BACKUP_INCREMENTAL && vm_blk(vm, i) && !backing_of(o, cfg->drives[i].drive_id))
			e = error_set(err, errlen, -EINVAL, "backing: drive %s: an incremental member needs the previous "
				      "member's file name", cfg->drives[i].drive_id);
	uint64_t t0 = now_ns();
	bool was_paused = vm_is_paused(vm);
	if (!e && (e = vm_pause(vm)) < 0)
		e = error_set(err, errlen, e, "cannot pause the VM: %s", strerror(-e));
	uint64_t t1 = now_ns();
	bool paused = !e;
	/* each drive's mode and marks, taken while the guest cannot write */
	for (unsigned i = 0; !e && i < cfg->ndrives; i++) {
		struct virtio_blk *b = vm_blk(vm, i);
		struct backup_disk_result *d = &res->disks[res->ndisks++];
		snprintf(d->drive_id, sizeof(d->drive_id), "%s", cfg->drives[i].drive_id);
		if (b && virtio_blk_backup_begin(b, o->mode == BACKUP_INCREMENTAL, o->chain_id, &takes[i]) < 0)
			e = error_oom(err, errlen);
		d->mode = takes[i].incremental ? BACKUP_INCREMENTAL : BACKUP_FULL;
		snprintf(d->why, sizeof(d->why), "%s", takes[i].why);
		d->dirty_bytes = takes[i].dirty_bytes;
		snprintf(d->file, sizeof(d->file), "%s.%s", cfg->drives[i].drive_id, takes[i].incremental ? "qcow2" : "img");
		if (!e && (asprintf(&paths[i], "%s/%s", dir, d->file) < 0 ||
			   asprintf(&tmps[i], "%s.tmp.%d", paths[i], (int)getpid()) < 0))
			e = error_oom(err, errlen);
	}
	for (unsigned i = 0; !e && i < cfg->ndrives; i++)
		e = own_disk(cfg, paths[i], err, errlen);
	if (!e) {
		/* The disks first, under temporary names, then the snapshot (memory, then state), then
		 * the disks into place: a backup that fails leaves the one before it as it was. */
		for (unsigned i = 0; !e && i < cfg->ndrives; i++)
			e = write_member(vm, i, cfg->drives[i].path_on_host, tmps[i], backing_of(o, cfg->drives[i].drive_id),
					 &takes[i], res->disks[i].sha256, err, errlen);
		struct snapshot_create_opts so = { .state_path = state, .mem_path = mem, .drive_paths = paths };
		if (!e)
			e = snapshot_create(vm, &so, err, errlen);
		for (unsigned i = 0; !e && i < cfg->ndrives; i++)
			if (rename(tmps[i], paths[i]) < 0) {
				e = error_set(err, errlen, -errno, "disk %s: %s", paths[i], strerror(errno));
			}
		for (unsigned i = 0; e && i < cfg->ndrives; i++)
			if (tmps[i])
				unlink(tmps[i]);
	}
	if (paused) { /* the bitmaps cleared (or the marks back) before the guest writes again */
		finish_disks(vm, o, takes, paths, res, !e);
		if (!was_paused)
			vm_resume(vm);
	}
	if (!e)
		log_info("backup: %s, guest paused for %.1f ms (%.1f ms in all)", dir,
			 (double)(now_ns() - t1) / 1e6, (double)(now_ns() - t0) / 1e6);
	for (unsigned i = 0; i < DEVICES_MAX_DRIVES; i++) {
		free(paths[i]);
		free(tmps[i]);
		free(takes[i].bits);
	}
	return e;
}
