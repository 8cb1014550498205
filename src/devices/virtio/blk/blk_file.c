/* A running drive's backing file: swapped for another (PATCH /drives path_on_host), opened
 * again (a qcow2 image another process changed: migration, takeover) or for writing (a
 * migration's disk copy into a read-only drive's image). */
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/blk/blk_int.h"
#include "util/log.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SECTOR 512u

/* Put the disk nd (just opened) in the place of the current one: requests already on the
 * old file finish there (and the guest hears about them), then it is closed. */
static int install(struct virtio_blk *b, struct disk *nd)
{
	struct virtio_dev *d = &b->vdev;
	/* Stop completion callbacks for the old file first (never while holding d->lock: the
	 * I/O thread may be inside blk_completions waiting for it). */
	if (disk_async(&b->disk) && d->io)
		io_thread_remove(d->io, b->disk.file.efd);
	pthread_mutex_lock(&d->lock);
	if (blk_reap(b, true) > 0)
		virtio_queue_interrupt(d, 0);
	/* Writes the old file took are the guest's too: a FLUSH after the swap goes to the new
	 * file, so they are made durable now (with the writeback cache the guest relies on it). */
	if (b->flush_enabled && !b->disk.file.read_only && disk_sync(&b->disk, RAW_FLUSH, 0, NULL, 0) < 0)
		log_warn("%s: flushing the old backing file %s failed: the guest's last writes to it may not "
			 "be durable", d->name, b->disk.file.path);
	disk_close(&b->disk);
	disk_move(&b->disk, nd);
	b->st.capacity = disk_size(&b->disk) / SECTOR;
	pthread_mutex_unlock(&d->lock);
	return disk_async(&b->disk) && d->io ? io_thread_add_in(d->io, b->disk.file.efd, blk_completions, b) : 0;
}

int virtio_blk_swap_file(struct virtio_blk *b, const char *path)
{
	struct virtio_dev *d = &b->vdev;
	struct disk nd;
	/* The same file again (Firecracker's clients PATCH it after resizing it): its lock is
	 * ours already, held by the old open; take it over once that one is closed. */
	struct stat now, cur;
	bool same = stat(path, &now) == 0 && fstat(b->disk.file.fd, &cur) == 0 && now.st_dev == cur.st_dev &&
		    now.st_ino == cur.st_ino;
	struct disk_options o = b->opts;
	o.no_lock = same;
	int err = disk_open(&nd, path, &o);
	if (err < 0)
		return err;
	err = install(b, &nd);
	if (!same)
		blk_backup_file_changed(b, path);
	pthread_mutex_lock(&d->lock);
	if (same && disk_lock(&b->disk, false) < 0)
		log_warn("%s: %s is no longer locked against other writers", d->name, path);
	virtio_config_changed(d); /* the capacity may have changed */
	pthread_mutex_unlock(&d->lock);
	log_info("%s: backing file is now %s (%s), %llu sectors", d->name, path, disk_format_name(b->disk.format),
		 (unsigned long long)b->st.capacity);
	return err;
}

int virtio_blk_reopen(struct virtio_blk *b)
{
	if (!b->disk.qcow2 || b->disk.file.read_only)
		return 0; /* nothing the other side could have changed: no tables, or not written */
	char *path = strdup(b->disk.file.path);
	if (!path)
		return -ENOMEM;
	struct disk nd;
	struct disk_options o = b->opts;
	o.no_lock = true; /* the old open holds the lock until it is closed */
	int err = disk_open(&nd, path, &o);
	if (err == 0 && (err = install(b, &nd)) == 0 && (err = disk_lock(&b->disk, false)) < 0)
		log_error("%s: %s was taken by another process while it was opened again", b->vdev.name, path);
	free(path);
	return err;
}

int virtio_blk_reopen_writable(struct virtio_blk *b)
{
	if (!b->disk.file.read_only)
		return 0;
	char *path = strdup(b->disk.file.path);
	if (!path)
		return -ENOMEM;
	bool ro = b->opts.read_only;
	b->opts.read_only = false;
	int err = virtio_blk_swap_file(b, path);
	b->opts.read_only = ro; /* a later path swap opens read-only again */
	free(path);
	return err;
}
