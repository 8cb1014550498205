/* The qcow2 driver's insides, shared by qcow2.c (mapping, reads, writes) and qcow2_alloc.c
 * (refcounts and cluster allocation). */
#ifndef PETREL_BLOCK_QCOW2_INT_H
#define PETREL_BLOCK_QCOW2_INT_H

#include "block/qcow2.h"
#include "block/qcow2_cache.h"
#include "block/qcow2_format.h"
#include "block/raw.h"

#include <liburing.h>
#include <pthread.h>

#define QCOW2_HELD_MAX 256 /* copy-on-write clusters held or being committed */
#define QCOW2_COMMITS 16   /* commits in flight at once */

struct qcow2 {
	/* Guest requests (I/O thread) and disk copies (migration, replication threads) may come
	 * at once: one request at a time inside (caches, reservation and scratch buffers). */
	pthread_mutex_t lock;
	struct raw_file *f;
	int fd;
	struct qcow2_header h;
	bool read_only;
	uint64_t cs;                 /* cluster size */
	unsigned cbits, l2_bits;
	uint64_t *l1;                /* host byte order */
	uint64_t *rt;                /* refcount table: refcount block offsets, host order */
	uint64_t rt_entries, rt_off;
	bool rt_pending;             /* a new refcount table is being built: entries stay in memory */
	unsigned rc_bits;            /* refcount width */
	uint64_t rb_entries;         /* refcounts per block */
	uint64_t rc_max;
	struct qcow2_cache l2c, rbc;
	struct disk *backing;        /* NULL: unallocated clusters read as zeroes */
	bool no_copy_range;          /* copy_file_range failed from the backing file: read and write */
	uint64_t file_size;
	uint64_t end;                /* every cluster from here on is free */
	/* Reserved runs (qcow2_reserve.c). */
	uint64_t res_next, res_end;  /* clusters whose refcount is 1 on disk, not yet used */
	uint64_t ahead_start, ahead_end; /* the next run: counted, durable once ahead_synced */
	bool ahead_synced;
	uint64_t rc_lo, rc_hi;       /* file bytes the refcount writes of the last run touched */
	bool sync_inflight;          /* an fdatasync for the next run is on sync_ring */
	int io_err;                  /* a sync or commit failed since the last flush: the next flush
	                              * answers it (the kernel reports a writeback error once, to
	                              * whichever sync of the file comes first) */
	bool sync_ring_up;
	bool sync_fixed;             /* sync_ring holds the image as its file 0 (raw_register_image) */
	struct io_uring sync_ring;
	uint64_t reserve_bytes;      /* size of the last run reserved */
	uint8_t *buf;                /* one cluster: copy-on-write */
	uint8_t *zin, *zout;         /* compressed clusters: input (2 clusters) and output */
	uint64_t zcached;            /* descriptor of the cluster in zout; 0: none */
	struct qcow2_stats stats;
	/* Clusters let go of whose refcounts drop at the next sync (qcow2_unref_later). */
	struct { uint64_t off, len; } *frees;
	size_t nfrees, frees_cap;
	/* Copy-on-write clusters written but not yet named by their L2 entries on disk
	 * (qcow2_commit.c): lookups see them here until their commit is reaped. */
	unsigned nslots, nnew;       /* records in use; of them, held and not yet committing */
	struct qcow2_held {
		uint64_t voff, host, kept;   /* guest cluster, new cluster, its bytes to sync */
		uint64_t l2_off, l2_index;
		uint64_t old_entry;          /* what the entry named before (let go of after) */
		int old_type;                /* enum ctype */
		int state;                   /* HELD_FREE, HELD_NEW, HELD_COMMITTING */
		unsigned group;              /* its commit, when committing */
		uint8_t be[8];               /* the new entry as written (the ring's source) */
	} *held;                     /* QCOW2_HELD_MAX, allocated for writable images */
	struct qcow2_held *held_retired; /* records the kernel may still read (the ring failed) */
	struct { unsigned cqes; int res; bool busy; } commits[QCOW2_COMMITS];
	bool commit_ring_up;
	bool commit_fixed;           /* commit_ring holds the image as its file 0 */
	unsigned ring_inflight;      /* requests the kernel took from commit_ring, not yet reaped */
	struct io_uring commit_ring;
	bool commit_failed_logged;
};

/* Refcounts (qcow2_alloc.c). */
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *out);
int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t v);
/* Drop one reference to each cluster of [off, off+len); a cluster left unreferenced is
 * punched out of the file. */
int qcow2_unref(struct qcow2 *q, uint64_t off, uint64_t len);
/* qcow2_unref once the L2 entries that no longer point at [off, off+len) are durable: at the
 * next fdatasync (qcow2_apply_frees after it), or now after one if many are waiting. */
int qcow2_unref_later(struct qcow2 *q, uint64_t off, uint64_t len);
/* After a successful fdatasync: drop the refcounts qcow2_unref_later kept. */
int qcow2_apply_frees(struct qcow2 *q);
/* Set the refcounts of clusters [first, first+n) to v: one write per refcount block. */
int qcow2_refcount_set_run(struct qcow2 *q, uint64_t first, uint64_t n, uint64_t v);
/* Grow the file to at least end bytes. */
int qcow2_extend(struct qcow2 *q, uint64_t end);
/* Scan the refcounts for the end of the used area (at open). */
int qcow2_find_end(struct qcow2 *q);

/* Reserved runs (qcow2_reserve.c). A free cluster with refcount 1 on disk, for data or a
 * table; every cluster it hands out is past the end of the file at open and was never handed
 * out before, so it reads as zeroes until written. */
int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off);
/* Up to want clusters that follow each other in the file: *got (at least 1) from *off. */
int qcow2_alloc_clusters(struct qcow2 *q, unsigned want, uint64_t *off, unsigned *got);
/* Writable images: the ring for syncing runs ahead (none: they are synced in line). */
void qcow2_reserve_init(struct qcow2 *q);
/* An fdatasync of the whole file just succeeded: the run counted ahead is durable. */
void qcow2_reserve_synced(struct qcow2 *q);
/* Prepare an fdatasync of the file's bytes [lo, hi) (the whole file if the range is empty or
 * does not fit the ring's 32-bit length): data, the file's metadata, the disk's cache. */
void qcow2_prep_sync(struct io_uring_sqe *sqe, int fd, uint64_t lo, uint64_t hi);
/* Make [off, off+len) of the file durable (its data, the file's metadata, the disk's cache)
 * without the rest of the file's dirty data: a ranged fdatasync on the ring, or a whole
 * fdatasync without one. */
int qcow2_sync_range(struct qcow2 *q, uint64_t off, uint64_t len);
/* Return the reserved, unused clusters (their refcounts to 0, the file cut back). */
void qcow2_return_reserved(struct qcow2 *q);
/* The same, and stop the ring (at close). */
void qcow2_release_reserved(struct qcow2 *q);

/* A sync or commit failed where no guest request could be told: the next flush answers it
 * (the first such error). */
static inline void qcow2_keep_err(struct qcow2 *q, int e)
{
	if (!q->io_err)
		q->io_err = e;
}

int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off);

#define IOV_MAX_PIECES 256  /* iovecs per request (a virtqueue chain has at most 256) */

/* Mapping and reads (qcow2.c). */
enum ctype { C_UNALLOC, C_ZERO, C_NORMAL, C_COMPRESSED };

struct map {
	enum ctype type;
	uint64_t entry;     /* the L2 entry (0 if there is no L2 table) */
	uint64_t host;      /* C_NORMAL: cluster offset in the file */
	uint64_t l2_off;    /* the L2 table (0: none) */
	uint64_t l2_index;
};

/* Log a corrupt entry met at guest offset voff: -EIO. */
int qcow2_corrupt(struct qcow2 *q, uint64_t voff, const char *what, uint64_t v);
int qcow2_lookup(struct qcow2 *q, uint64_t voff, struct map *m);
/* Read [voff, voff+len) of one cluster, whose mapping is m, into iov. */
int qcow2_read_piece(struct qcow2 *q, const struct map *m, uint64_t voff, const struct iovec *iov, unsigned n,
		     uint64_t len);
/* A compressed cluster's extent in the file. */
void qcow2_compressed_extent(struct qcow2 *q, uint64_t e, uint64_t *off, uint64_t *len);

/* Writes (qcow2_write.c). Write iov (n == 0: zeroes) at voff: the cluster voff is in, and
 * following whole clusters of the next `avail` bytes when they can go in one write; *len is
 * the bytes of the first cluster on entry, the bytes written on return. The data for voff
 * is at byte skip of iov. */
int qcow2_write_clusters(struct qcow2 *q, uint64_t voff, const struct iovec *iov, unsigned n, uint64_t skip,
			 uint64_t *len, uint64_t avail);
int qcow2_zero_locked(struct qcow2 *q, uint64_t off, uint64_t len, bool discard);
/* Set an L2 entry (in the cache and the file). */
int qcow2_set_l2(struct qcow2 *q, const struct map *m, uint64_t e);
/* Drop the cluster m named before its entry changed, once the new entry is durable. */
int qcow2_release(struct qcow2 *q, const struct map *m);

/* Held copy-on-write (qcow2_commit.c). A new cluster that keeps old non-zero bytes (kept:
 * [0, kept) must be durable first) is held: seen by lookups, named on disk only by a commit,
 * which syncs the copies of many clusters once and then writes their entries, in the kernel
 * (linked io_uring requests) or in line without a ring. */
/* Writable images, at open (the ring is made before seccomp filters forbid it): 0 or
 * -ENOMEM; without io_uring commits are done in line. */
int qcow2_commit_init(struct qcow2 *q);
/* Commit everything, then free the records and the ring (at close). */
void qcow2_commit_exit(struct qcow2 *q);
int qcow2_hold(struct qcow2 *q, const struct map *m, uint64_t cstart, uint64_t host, uint64_t kept);
/* The held record of the cluster at guest offset cstart, or NULL. */
const struct qcow2_held *qcow2_held_find(const struct qcow2 *q, uint64_t cstart);
/* Start a commit of everything held (and reap finished ones): returns without waiting. */
int qcow2_commit_start_locked(struct qcow2 *q);
/* Commit everything held and wait until every entry is written. */
int qcow2_commit_locked(struct qcow2 *q);

#endif
