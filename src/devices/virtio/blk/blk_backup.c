/* A drive's backup bitmap (docs/snapshots.md#incremental-backups): the chunks the guest wrote
 * since the last backup, in a tracker of its own (block/dirty.h; live migration's and
 * replication's takes never clear it), loaded from the disk's persistent bitmap at create
 * (block/bitmap_store.h: marked in use there) and written back clean at a clean close. A
 * bitmap that may be wrong is stale: the next backup is full, and says why. */
#include "devices/virtio/blk/blk.h"
#include "block/dirty.h"
#include "block/qcow2.h"
#include "block/qcow2_bitmap.h"
#include "util/bitmap.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int blk_backup_open(struct virtio_blk *b, const char *path, bool read_only, bool migrating)
{
	memset(&b->bmp, 0, sizeof(b->bmp));
	b->bmp.stale = true;
	if (read_only) { /* nothing to track; never written by us, so nothing to mark either */
		snprintf(b->bmp.why, sizeof(b->bmp.why), "a read-only drive keeps no backup bitmap");
		return 0;
	}
	char fmt[16], err[256];
	uint64_t size;
	const char *want = b->opts.format == DISK_FORMAT_RAW ? "raw" : b->opts.format == DISK_FORMAT_QCOW2 ? "qcow2" : NULL;
	if (qcow2_image_info(path, want, fmt, sizeof(fmt), &size, err, sizeof(err)) < 0) {
		snprintf(b->bmp.why, sizeof(b->bmp.why), "%s", err);
		return 0; /* disk_open says what is wrong with the image */
	}
	int e = bitmap_store_load(path, size, &b->bmp, &b->bmp_qcow2);
	if (e < 0)
		return e;
	if (b->bmp_qcow2 && strcmp(fmt, "qcow2"))
		b->bmp_qcow2 = false; /* a qcow2 file used as a raw disk: its data is the guest's */
	if (migrating && !b->bmp.stale)
		backup_bitmap_set_stale(&b->bmp, "the disk came with a live migration: the chain restarts with a full "
					"member");
	struct blk_dirty *d = blk_dirty_new(size);
	if (!d) {
		backup_bitmap_free(&b->bmp);
		return -ENOMEM;
	}
	if (b->bmp.bits) /* the writes of earlier runs since the last backup */
		memcpy(d->bits, b->bmp.bits, BITMAP_WORDS(d->nchunks) * 8);
	backup_bitmap_free(&b->bmp);
	blk_dirty_enable(d, true);
	b->backup = d;
	struct stat st; /* a block device has no bitmap on disk: its chain lives only as long as the worker */
	b->bmp_persist = stat(path, &st) == 0 && S_ISREG(st.st_mode);
	return 0;
}

void blk_backup_close(struct virtio_blk *b)
{
	if (__atomic_load_n(&b->bmp_host_written, __ATOMIC_ACQUIRE))
		return; /* stale: left in use on disk */
	if (!b->backup || !b->bmp_persist || b->bmp.stale || b->disk.file.read_only)
		return; /* on disk it stays in use (or absent): stale at the next open */
	uint64_t *bits = calloc(BITMAP_WORDS(b->backup->nchunks) + 1, 8);
	if (!bits) {
		log_warn("%s: no memory to write the backup bitmap: the next backup is full", b->vdev.name);
		return;
	}
	blk_dirty_take(b->backup, bits);
	char err[256];
	int e = b->bmp_qcow2 && b->disk.qcow2
			? qcow2_bitmap_store(b->disk.qcow2, b->bmp.chain_id, bits, b->backup->nchunks, err, sizeof(err))
			: bitmap_store_save_sidecar(b->disk.file.path, &b->bmp, bits, false, err, sizeof(err));
	if (e < 0)
		log_warn("%s: cannot write the backup bitmap of %s (the next backup is full): %s", b->vdev.name,
			 b->disk.file.path, err);
	else
		log_info("%s: backup bitmap of %s written (chain \"%s\")", b->vdev.name, b->disk.file.path, b->bmp.chain_id);
	free(bits);
}

void blk_backup_file_changed(struct virtio_blk *b, const char *path)
{
	if (!b->backup)
		return;
	/* the new file's own bitmap marked in use, its bits dropped: they are another chain's */
	struct backup_bitmap nb;
	bool q;
	if (bitmap_store_load(path, virtio_blk_size(b), &nb, &q) == 0) {
		backup_bitmap_free(&nb);
		b->bmp_qcow2 = q;
	}
	backup_bitmap_set_stale(&b->bmp, "the drive's file was replaced (now %s): the chain restarts with a full member",
				path);
}

void blk_backup_host_write(struct virtio_blk *b)
{
	/* the first such write says why; the flag is read by the backup on the worker */
	if (!__atomic_exchange_n(&b->bmp_host_written, true, __ATOMIC_ACQ_REL))
		log_info("%s: written by a disk copy: its backup chain restarts with a full member", b->vdev.name);
}

int virtio_blk_backup_begin(struct virtio_blk *b, bool incremental, const char *chain_id, struct blk_backup_take *t)
{
	memset(t, 0, sizeof(*t));
	t->incremental = incremental;
	if (__atomic_exchange_n(&b->bmp_host_written, false, __ATOMIC_ACQ_REL))
		backup_bitmap_set_stale(&b->bmp, "the disk was written by a migration's or replication's copy");
	if (incremental && (!b->backup || b->bmp.stale)) {
		snprintf(t->why, sizeof(t->why), "the backup bitmap is stale: %s", b->bmp.why);
		t->incremental = false;
	} else if (incremental && strcmp(chain_id ? chain_id : "", b->bmp.chain_id)) {
		snprintf(t->why, sizeof(t->why), "chain_id \"%s\" is not the bitmap's (\"%s\")", chain_id ? chain_id : "",
			 b->bmp.chain_id);
		t->incremental = false;
	}
	if (!b->backup)
		return 0;
	t->nbits = b->backup->nchunks;
	if (!(t->bits = calloc(BITMAP_WORDS(t->nbits) + 1, 8)))
		return -ENOMEM;
	uint64_t n = blk_dirty_take(b->backup, t->bits);
	t->dirty_bytes = n * BLK_DIRTY_CHUNK;
	return 0;
}

void virtio_blk_backup_end(struct virtio_blk *b, struct blk_backup_take *t, bool ok, const char *chain_id)
{
	if (b->backup && !ok && t->bits) /* the marks back: the next incremental copies them */
		for (uint64_t w = 0; w < BITMAP_WORDS(t->nbits); w++)
			__atomic_fetch_or(&b->backup->bits[w], t->bits[w], __ATOMIC_ACQ_REL);
	if (b->backup && ok) {
		snprintf(b->bmp.chain_id, sizeof(b->bmp.chain_id), "%s", chain_id ? chain_id : "");
		b->bmp.generation = t->incremental ? b->bmp.generation + 1 : 1;
		b->bmp.stale = false;
		b->bmp.why[0] = 0;
	}
	free(t->bits);
	t->bits = NULL;
}
