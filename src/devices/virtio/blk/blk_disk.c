/* A drive's verbs for the layers above it: live migration and replication copy its image
 * through them (migration/disks.c), the metrics read its counters; nothing above reads the
 * device's fields. */
#include "devices/virtio/blk/blk.h"
#include "block/dirty.h"
#include "devices/dev_stats.h"
#include "util/bitmap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/stat.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *virtio_blk_name(const struct virtio_blk *b)
{
	return b->vdev.name;
}

const char *virtio_blk_path(const struct virtio_blk *b)
{
	return b->disk.file.path;
}

uint64_t virtio_blk_size(const struct virtio_blk *b)
{
	return b->st.capacity * 512;
}

uint64_t virtio_blk_image_size(const struct virtio_blk *b)
{
	return disk_size(&b->disk);
}

static int sync_io(struct virtio_blk *b, enum raw_op op, uint64_t off, void *buf, uint64_t len)
{
	struct iovec iov = { buf, len };
	int64_t n = disk_sync(&b->disk, op, off, &iov, 1);
	return n == (int64_t)len ? 0 : n < 0 ? (int)n : -EIO;
}

int virtio_blk_read(struct virtio_blk *b, uint64_t off, void *buf, uint64_t len)
{
	return sync_io(b, RAW_READ, off, buf, len);
}

int virtio_blk_write(struct virtio_blk *b, uint64_t off, const void *buf, uint64_t len)
{
	blk_backup_host_write(b);
	return sync_io(b, RAW_WRITE, off, (void *)buf, len);
}

int virtio_blk_extent(struct virtio_blk *b, uint64_t pos, uint64_t *len, bool *data)
{
	return disk_status(&b->disk, pos, len, data);
}

bool virtio_blk_file_id(const struct virtio_blk *b, uint64_t *dev, uint64_t *ino)
{
	struct stat st;
	if (fstat(b->disk.file.fd, &st) < 0)
		return false;
	*dev = (uint64_t)st.st_dev;
	*ino = (uint64_t)st.st_ino;
	return true;
}

int virtio_blk_lock(struct virtio_blk *b)
{
	return disk_lock(&b->disk, true);
}

void virtio_blk_unlock(struct virtio_blk *b)
{
	disk_unlock(&b->disk);
}

void virtio_blk_handover(struct virtio_blk *b)
{
	/* The other side reads the image's tables when it takes it: they must be complete. And
	 * from now on the backup bitmap is the other side's: never written back from here. */
	b->bmp_persist = false;
	if (disk_handover(&b->disk) < 0)
		log_warn("%s: cannot make %s complete for the other side", b->vdev.name, b->disk.file.path);
	if (disk_unlock(&b->disk) < 0)
		log_warn("%s: cannot let go of the lock on %s", b->vdev.name, b->disk.file.path);
}

void virtio_blk_sync_ahead(struct virtio_blk *b)
{
	if (!b->disk.file.read_only && disk_sync(&b->disk, RAW_FLUSH, 0, NULL, 0) < 0)
		log_warn("%s: cannot sync %s ahead of the switch", b->vdev.name, b->disk.file.path);
}

int virtio_blk_resize_empty(struct virtio_blk *b, uint64_t size, char *err, size_t errlen)
{
	/* A read-only drive needs the source's data too: its image is written here, while the
	 * guest keeps seeing a read-only disk. */
	int e = virtio_blk_reopen_writable(b);
	if (e < 0)
		return error_set(err, errlen, e, "%s: cannot open the image for writing the source's disk: %s", b->vdev.name,
			 strerror(-e));
	if (b->disk.qcow2) {
		/* A qcow2 image keeps its format: it must have the source's size, and starts all zero. */
		e = disk_size(&b->disk) == size ? disk_write_zeroes(&b->disk, 0, size, true) : -EINVAL;
		if (e < 0)
			return error_set(err, errlen, e, "%s: the qcow2 image must be %llu bytes (it is %llu) and writable",
				 b->vdev.name, (unsigned long long)size, (unsigned long long)disk_size(&b->disk));
	} else if (ftruncate(b->disk.file.fd, 0) < 0 || ftruncate(b->disk.file.fd, (off_t)size) < 0) {
		/* Start from an empty image of the source's size: its holes are zero here too. */
		return error_set(err, errlen, -errno, "%s: cannot size the image: %s", b->vdev.name, strerror(errno));
	}
	blk_backup_host_write(b);
	b->disk.file.size = b->disk.size = size;
	b->st.capacity = size / 512; /* the guest sees the source's size (the state says so too) */
	return 0;
}

int virtio_blk_track_writes(struct virtio_blk *b, bool on)
{
	if (!on) {
		if (b->dirty)
			blk_dirty_enable(b->dirty, false);
		return 0;
	}
	if (!b->dirty) { /* published to the I/O thread, which marks what the guest writes */
		struct blk_dirty *nd = blk_dirty_new(virtio_blk_size(b));
		if (!nd)
			return -ENOMEM;
		__atomic_store_n(&b->dirty, nd, __ATOMIC_RELEASE);
	}
	blk_dirty_enable(b->dirty, true); /* from now on: what the guest writes comes round again */
	return 0;
}

int virtio_blk_take_written(struct virtio_blk *b, uint64_t **bits, uint64_t *nchunks)
{
	*bits = NULL;
	*nchunks = 0;
	if (!b->dirty)
		return 0;
	*bits = calloc(BITMAP_WORDS(b->dirty->nchunks) + 1, 8);
	if (!*bits)
		return -ENOMEM;
	blk_dirty_take(b->dirty, *bits);
	*nchunks = b->dirty->nchunks;
	return 0;
}

/* ---- the metrics' counters (devices/dev_stats.h) ---- */

static const char *const counter_names[] = { "read_count", "write_count", "flush_count", "io_errors",
					     "rate_limiter_throttled_events" };

static void read_counters(void *dev, uint64_t *v)
{
	const struct virtio_blk *b = dev;
	v[0] = stat_read(&b->reads);
	v[1] = stat_read(&b->writes);
	v[2] = stat_read(&b->flushes);
	v[3] = stat_read(&b->errors);
	v[4] = stat_read(&b->rl.throttled);
}

/* Firecracker's BlockDeviceMetrics names: "block" sums the drives, "block_ID" is one drive. */
const struct dev_stats_ops virtio_blk_stats_ops = {
	.group = "block", .own_group = true, .n = 5, .names = counter_names, .read = read_counters,
};
