/* A disk image of any supported format (raw, qcow2 with its backing chain) behind one
 * interface: what virtio-blk, disk migration and replication read and write. Data goes
 * through io_uring: all of a raw image's (buffered writes the file system cannot take without
 * blocking run on the caller's thread instead: raw_write.c), and a qcow2 request's whose guest range maps onto
 * one run of one file of the chain (a read from allocated clusters or from the backing file,
 * a rewrite in place); the rest of qcow2 (allocation, copy-on-write, zero and compressed
 * clusters, metadata, flush) is synchronous on the caller's thread. */
#ifndef PETREL_BLOCK_DISK_H
#define PETREL_BLOCK_DISK_H

#include "block/raw.h"
#include "util/disk_format.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define DISK_MAX_CHAIN 16 /* images in a backing chain, the top one included */

struct qcow2;

struct disk {
	struct raw_file file;     /* the image file itself */
	struct qcow2 *qcow2;      /* NULL: raw */
	enum disk_format format;  /* as opened (never AUTO) */
	uint64_t size;            /* guest-visible bytes */
};

struct disk_options {
	enum disk_format format;  /* AUTO: qcow2 if the file starts with its magic, else raw */
	bool read_only, direct, async;
	unsigned depth;           /* io_uring entries */
	bool no_lock;             /* do not lock the top image (disk_lock later) */
};

/* Open path and, for qcow2, its backing chain (read-only; a relative name is relative to the
 * directory of the image naming it; at most DISK_MAX_CHAIN images; loops refused). 0 or
 * -errno, logged. */
int disk_open(struct disk *d, const char *path, const struct disk_options *o);
void disk_close(struct disk *d);
/* Every image of a disk is locked while open (open file description locks, as QEMU does):
 * the top image exclusively when writable, shared otherwise, backing files shared. A second
 * writer, or a writer beside readers, is refused: "in use by another process". disk_lock
 * takes the top image's lock for a disk opened with no_lock (quiet: -EBUSY is not logged, for
 * a caller that tries again). 0 or -errno. */
int disk_lock(struct disk *d, bool quiet);
/* Let go of the top image's lock (the file stays open): another process may now open it for
 * writing. A live migration's source does this once its guest is paused for good. 0 or -errno. */
int disk_unlock(struct disk *d);
/* Before another process (maybe on another host, over a shared file system) opens the image
 * for writing: qcow2_handover; a raw image's data synced. 0 or -errno. */
int disk_handover(struct disk *d);
/* Move an open disk to another place in memory (src is then empty). */
void disk_move(struct disk *dst, struct disk *src);

static inline uint64_t disk_size(const struct disk *d) { return d->size; }
static inline bool disk_async(const struct disk *d) { return d->file.async; }

/* As raw_queue/raw_kick/raw_reap. -EAGAIN: use disk_sync (no ring, ring full, O_DIRECT
 * alignment, or a qcow2 request that is not one run of one file: see above). A qcow2 disk's
 * synchronous writes, zeroes, discards and flushes must not run while its queued requests are
 * in flight (they may free or move clusters those use): reap them first (disk_inflight). */
int disk_queue(struct disk *d, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n, void *tag);
int disk_kick(struct disk *d);
int disk_reap(struct disk *d, raw_done_fn fn, void *ctx, bool wait);
/* Requests queued or in flight on the ring. */
unsigned disk_inflight(const struct disk *d);
/* Completions wait on the ring (disk_reap would find some): a peek, no system call. */
bool disk_has_completions(struct disk *d);
/* Bytes transferred (all of them) or -errno; RAW_FLUSH: 0 or -errno. */
int64_t disk_sync(struct disk *d, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n);
/* disk_sync of a write for a caller that batches (virtio-blk): a qcow2 image may leave its
 * copy-on-write held (qcow2_rw_held) until disk_commit_start, which the caller calls at the
 * end of each batch; disk_commit waits for every commit (before a pause hands the image on).
 * Raw images hold nothing. */
int64_t disk_write_held(struct disk *d, uint64_t off, const struct iovec *iov, unsigned n);
int disk_commit_start(struct disk *d);
int disk_commit(struct disk *d);
/* Whether the guest bytes from off may hold data (false: they read as zeroes); *len is cut to
 * a run with the same answer (never to 0). */
int disk_status(struct disk *d, uint64_t off, uint64_t *len, bool *data);
int disk_discard(struct disk *d, uint64_t off, uint64_t len);
int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap);

#endif
