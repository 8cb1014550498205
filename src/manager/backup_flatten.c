/* A chain's member as one disk again (backup_flatten.h): the member opened with its backing
 * chain by petrel's own block layer (src/block: what the worker reads a chain with), and the
 * disk it stands for written into a new file in the chain's first (full) member's format: raw,
 * or a qcow2 image of its own, no backing file. Runs that read as zeroes are left as holes
 * (raw) or unallocated clusters (qcow2). */
#include "manager/backup_flatten.h"
#include "block/disk.h"
#include "block/qcow2.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define FLAT_BLOCK (1u << 20)

/* The chain's bottom image (the full member). */
static struct disk *base_of(struct disk *d)
{
	while (d->format == DISK_FORMAT_QCOW2 && qcow2_backing(d->qcow2))
		d = qcow2_backing(d->qcow2);
	return d;
}

/* src's bytes [from, size) into out (open for writing, its size set): its data runs, zero
 * blocks skipped. */
static int copy_data(struct disk *src, struct disk *out, uint64_t from, uint64_t size, char *err, size_t errlen)
{
	_cleanup_free_ uint8_t *buf = malloc(FLAT_BLOCK);
	if (!buf)
		return error_oom(err, errlen);
	for (uint64_t off = from; off < size;) {
		uint64_t len = MIN((uint64_t)FLAT_BLOCK, size - off);
		bool data = true;
		if (disk_status(src, off, &len, &data) < 0)
			data = true, len = MIN((uint64_t)FLAT_BLOCK, size - off);
		len = MIN(len, (uint64_t)FLAT_BLOCK);
		if (data) {
			struct iovec iov = { buf, len };
			int64_t r = disk_sync(src, RAW_READ, off, &iov, 1);
			if (r != (int64_t)len)
				return error_set(err, errlen, r < 0 ? (int)r : -EIO, "reading the chain at %llu: %s",
						 (unsigned long long)off, strerror(r < 0 ? (int)-r : EIO));
			if (!mem_is_zero(buf, len) && (r = disk_sync(out, RAW_WRITE, off, &iov, 1)) != (int64_t)len)
				return error_set(err, errlen, r < 0 ? (int)r : -EIO, "writing at %llu: %s",
						 (unsigned long long)off, strerror(r < 0 ? (int)-r : EIO));
		}
		off += len;
	}
	int64_t r = disk_sync(out, RAW_FLUSH, 0, NULL, 0);
	return r < 0 ? error_set(err, errlen, (int)r, "syncing: %s", strerror((int)-r)) : 0;
}

int backup_flatten(const char *member, const char *dst, char *err, size_t errlen)
{
	struct disk src;
	struct disk_options ro = { .format = DISK_FORMAT_QCOW2, .read_only = true };
	int e = disk_open(&src, member, &ro);
	if (e < 0)
		return error_set(err, errlen, e, "cannot open the member %s and its chain: %s", member, strerror(-e));
	/* A raw disk's last bytes past its last whole sector are no guest's (virtio-blk counts
	 * sectors): the members stop there, the full member's copy has them. */
	uint64_t size = disk_size(&src), whole = size;
	struct disk *base = base_of(&src);
	bool qcow2 = base->format == DISK_FORMAT_QCOW2;
	if (!qcow2 && disk_size(base) > size)
		whole = disk_size(base);
	unlink(dst);
	if (qcow2) {
		struct qcow2_create_opts co = { .size = size, .sync = true };
		e = qcow2_create(dst, &co, err, errlen);
	} else {
		int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)whole) < 0)
			e = error_set(err, errlen, -errno, "cannot make %s: %s", dst, strerror(errno));
		if (fd >= 0)
			close(fd);
	}
	struct disk out;
	struct disk_options wo = { .format = qcow2 ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW };
	if (!e && (e = disk_open(&out, dst, &wo)) < 0)
		e = error_set(err, errlen, e, "cannot open %s: %s", dst, strerror(-e));
	else if (!e) {
		e = copy_data(&src, &out, 0, size, err, errlen);
		if (!e && whole > size)
			e = copy_data(base, &out, size, whole, err, errlen);
		disk_close(&out);
	}
	disk_close(&src);
	if (e < 0)
		unlink(dst);
	return e;
}
