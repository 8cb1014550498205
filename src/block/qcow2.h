/* qcow2 images (versions 2 and 3): reads through backing chains, compressed and zero
 * clusters; writes allocate clusters in this image only; discard and write-zeroes become
 * unallocated or zero clusters. Metadata is written through in an order that leaves a
 * consistent image (at worst leaked clusters) wherever the process stops: a cluster's
 * refcount is on disk before anything points at it, and nothing is freed while something
 * still points at it. Synchronous: the caller's thread does the I/O. */
#ifndef PETREL_BLOCK_QCOW2_H
#define PETREL_BLOCK_QCOW2_H

#include "block/qcow2_format.h"
#include "block/raw.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct qcow2;
struct disk;

struct qcow2_stats {
	uint64_t allocs, cows, compressed_reads, backing_reads;
	uint64_t cow_syncs; /* copies of old data made durable before their L2 entry */
};

/* Parse the image in f (which stays the caller's) and load its tables. The backing file it
 * names, if any, is in qcow2_header(q)->backing_file: open it and hand it to
 * qcow2_set_backing. 0, or -errno with a message in err. */
int qcow2_open(struct qcow2 **out, struct raw_file *f, bool read_only, char *err, size_t errlen);
const struct qcow2_header *qcow2_header(const struct qcow2 *q);
/* The backing disk (qcow2 then owns it and closes it). */
void qcow2_set_backing(struct qcow2 *q, struct disk *backing);
/* The backing disk, or NULL. */
struct disk *qcow2_backing(const struct qcow2 *q);
/* The raw_file moved (struct disk_move). */
void qcow2_set_file(struct qcow2 *q, struct raw_file *f);
/* Free unused reserved clusters and everything held; the file stays open. */
void qcow2_close(struct qcow2 *q);

/* Read or write guest bytes [off, off+len of iov): the byte count or -errno. */
int64_t qcow2_rw(struct qcow2 *q, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n);
/* qcow2_rw for a caller that batches (virtio-blk): a copy-on-write cluster (a new cluster
 * keeping old data around the new bytes) may be left held — written and used by later
 * requests, its L2 entry not yet in the file — until qcow2_commit_start, at the end of the
 * batch, syncs the copies of every held cluster once and has the kernel write their entries
 * after it (qcow2_commit.c: a power cut must never find an entry whose copied data did not
 * reach the disk). qcow2_rw does the same within one request and waits. */
int64_t qcow2_rw_held(struct qcow2 *q, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n);
/* Another process is about to open this image for writing (a migration's destination, on
 * shared storage): everything held is committed, the data synced, deferred frees applied and
 * the reserved runs given back, so that the image it reads is complete and clean. The image
 * stays usable here (a failed migration goes on with it). 0 or -errno. */
int qcow2_handover(struct qcow2 *q);
/* Commit what is held without waiting (finished commits are reaped on the way). */
int qcow2_commit_start(struct qcow2 *q);
/* Commit what is held and wait for every commit (flush, zeroes, discard and close do too). */
int qcow2_commit(struct qcow2 *q);
/* Where guest bytes [off, off+len) are when all of them are one run of one file of the chain
 * that a single read (op RAW_READ: allocated clusters following each other in this image's
 * file, or clusters unallocated all through to a raw backing file) or a single write in place
 * (RAW_WRITE: allocated clusters of this image's alone) can serve: 0 with *fd, *host. -EAGAIN
 * otherwise (zero or compressed clusters, allocation needed, pieces in several places, a
 * short file or a corrupt entry: qcow2_rw serves those and reports errors). Only the mapping
 * is read (under the lock): the caller does the data I/O. */
int qcow2_map_extent(struct qcow2 *q, enum raw_op op, uint64_t off, uint64_t len, int *fd, uint64_t *host);
/* Make [off, off+len) read as zeroes (write-zeroes), or drop it (discard: reads may then
 * return zeroes or the backing file's data). */
int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool discard);
int qcow2_flush(struct qcow2 *q);
/* As disk_status: data in this image or, where it has nothing, in its backing chain. */
int qcow2_status(struct qcow2 *q, uint64_t off, uint64_t *len, bool *data);
const struct qcow2_stats *qcow2_stats(const struct qcow2 *q);

/* New images (qcow2_create.c). */
struct qcow2_create_opts {
	const char *backing;         /* the backing file name recorded (NULL: none); a relative name
	                              * is relative to the new image's directory */
	const char *backing_format;  /* "raw", "qcow2", or NULL/"auto": probed now, and recorded */
	uint64_t size;               /* virtual bytes; 0: the backing file's size */
	bool sync;                   /* fsync the new file */
};
/* Create path (never over an existing file): an empty qcow2 v3 image, 64 KiB clusters, with
 * the backing file and its format recorded. Reads only the backing file's first cluster:
 * the cost does not depend on its size. 0, or -errno with a message in err. */
int qcow2_create(const char *path, const struct qcow2_create_opts *o, char *err, size_t errlen);
/* A new image written front to back in one pass (qcow2_stream.c): over o->create's backing
 * file, holding the 64 KiB clusters o->clusters marks (bit c: the guest's bytes c * 64 KiB on),
 * each read through o->read when its turn comes; every byte of the file goes to o->sink (when
 * set) in file order as it is written. Never over an existing file; on an error the file is
 * removed. 0, or -errno with a message in err. */
struct qcow2_stream_opts {
	struct qcow2_create_opts create;
	const uint64_t *clusters;
	uint64_t nclusters;          /* bits in clusters (those past the disk's end are ignored) */
	int (*read)(void *opaque, uint64_t off, void *buf, uint64_t len); /* 0 or -errno */
	void *read_opaque;
	void (*sink)(void *opaque, const uint8_t *buf, size_t len);
	void *sink_opaque;
};
int qcow2_stream_create(const char *path, const struct qcow2_stream_opts *o, char *err, size_t errlen);
/* The format (format NULL or "auto": probed) and virtual size of the image at path, from its
 * header alone. 0, or -errno with a message in err. */
int qcow2_image_info(const char *path, const char *format, char *fmt_out, size_t fmt_len, uint64_t *size,
		     char *err, size_t errlen);

#endif
