/* qcow2 cluster allocation, in reserved runs synced ahead of use.
 *
 * New clusters come from the end of the used area in runs: a run's refcounts are set to 1
 * and made durable before any of its clusters is used, so an L2 entry on disk never points at
 * a cluster whose refcount could still be 0 there, whatever stops the process or the machine.
 * The sync is an fdatasync of the byte range the refcount writes touched (io_uring's fsync
 * takes a range, as vfs_fsync_range does): those pages, the file's size, and a cache flush,
 * not every page of guest data dirtied before it, which a whole-file fdatasync would also
 * write out. And it is kept off the request path: while one run is in use, the next is
 * counted and its sync goes to an io_uring of its own (run by the kernel's workers); a guest
 * FLUSH that succeeds in between serves as well. A request waits only if it needs the next
 * run before that sync has finished. Without io_uring, runs are synced in line with
 * fdatasync.
 *
 * A crash leaks at most the current and the next run (their clusters are counted, and
 * nothing uses them: qemu-img check calls them leaks; sparse, so no space is lost); a clean
 * close gives them back. Clusters are only ever taken from past the end of the used area,
 * which at open is at or past the end of the file, and each is handed out once: a cluster
 * fresh from a run reads as zeroes until written. */
#include "block/qcow2_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* Runs start at RESERVE_MIN bytes and double up to RESERVE_MAX while the image keeps
 * growing, never beyond a quarter of the virtual size (at least 16 clusters). */
#define RESERVE_MIN (2ull << 20)
#define RESERVE_MAX (64ull << 20)

void qcow2_reserve_init(struct qcow2 *q)
{
	if (q->read_only)
		return;
	int r = io_uring_queue_init(2, &q->sync_ring, 0);
	if (r < 0) {
		log_warn("qcow2 %s: io_uring unavailable (%s): new clusters are synced in line", q->f->path,
			 strerror(-r));
		return;
	}
	q->sync_ring_up = true;
	q->sync_fixed = raw_register_image(q->f, &q->sync_ring);
}

/* Count the next run at the end of the used area: [*start, *end). Whatever was counted
 * before an error is leaked. q->rc_lo, rc_hi: the bytes to sync. */
static int count_run(struct qcow2 *q, uint64_t *start, uint64_t *end)
{
	q->rc_lo = UINT64_MAX;
	q->rc_hi = 0;
	uint64_t cap = MAX(MIN(RESERVE_MAX, q->h.size / 4), 16 * q->cs);
	q->reserve_bytes = q->reserve_bytes ? MIN(q->reserve_bytes * 2, cap) : MIN(RESERVE_MIN, cap);
	uint64_t n = MAX(q->reserve_bytes >> q->cbits, 1u), s = q->end;
	q->end += n * q->cs;
	int err = qcow2_extend(q, q->end);
	if (err == 0)
		err = qcow2_refcount_set_run(q, s >> q->cbits, n, 1);
	*start = s;
	*end = s + n * q->cs;
	return err;
}

/* Wait for the fdatasync on the ring: 1 if it succeeded, 0 if the ring gave no answer (sync in
 * line instead), -errno if the sync failed (also kept for the next flush: an fdatasync in line
 * now would not see the error again). */
static int reap_sync(struct qcow2 *q)
{
	struct io_uring_cqe *cqe;
	int r;
	do
		r = io_uring_wait_cqe(&q->sync_ring, &cqe);
	while (r == -EINTR);
	if (r < 0) {
		log_warn("qcow2 %s: waiting for the sync ring: %s", q->f->path, strerror(-r));
		q->sync_inflight = false; /* the ring is unusable: sync in line from now on */
		q->sync_ring_up = false;
		io_uring_queue_exit(&q->sync_ring);
		return 0;
	}
	int res = cqe->res;
	io_uring_cqe_seen(&q->sync_ring, cqe);
	q->sync_inflight = false;
	if (res < 0) {
		log_warn("qcow2 %s: fdatasync: %s", q->f->path, strerror(-res));
		qcow2_keep_err(q, res);
		return res;
	}
	return 1;
}

void qcow2_prep_sync(struct io_uring_sqe *sqe, int fd, uint64_t lo, uint64_t hi)
{
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	if (hi > lo && hi - lo < UINT32_MAX) {
		sqe->off = lo;
		sqe->len = (uint32_t)(hi - lo);
	}
}

/* Start an fdatasync of [lo, hi) (for a run: the bytes its refcount writes touched). */
static bool submit_sync(struct qcow2 *q, uint64_t lo, uint64_t hi)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->sync_ring);
	if (!sqe)
		return false;
	qcow2_prep_sync(sqe, q->fd, lo, hi);
	if (q->sync_fixed)
		raw_sqe_fixed(sqe);
	if (io_uring_submit(&q->sync_ring) != 1)
		return false;
	q->sync_inflight = true;
	return true;
}

/* Count the next run and start its fdatasync. Failures only mean the run is synced in line
 * when it is needed (or, if it was not counted, that a run is reserved in line). */
static void start_ahead(struct qcow2 *q)
{
	if (q->sync_inflight)
		reap_sync(q); /* an older sync a guest FLUSH overtook (a failure is kept in io_err) */
	uint64_t s, e;
	if (count_run(q, &s, &e) < 0)
		return; /* leaked; the next run is reserved in line */
	q->ahead_start = s;
	q->ahead_end = e;
	q->ahead_synced = false;
	if (q->sync_ring_up)
		submit_sync(q, q->rc_lo, q->rc_hi);
}

/* Make the next run the current one, durable first. */
static int take_ahead(struct qcow2 *q)
{
	if (!q->ahead_synced && q->sync_inflight) {
		int r = reap_sync(q);
		if (r < 0)
			return r; /* the run is not known to be durable: not used (tried again later) */
		q->ahead_synced = r > 0;
	}
	if (!q->ahead_synced) {
		if (fdatasync(q->fd) < 0)
			return -errno;
		q->ahead_synced = true;
	}
	q->res_next = q->ahead_start;
	q->res_end = q->ahead_end;
	q->ahead_start = q->ahead_end = 0;
	return 0;
}

static int reserve_now(struct qcow2 *q)
{
	uint64_t s, e;
	int err = count_run(q, &s, &e);
	if (err < 0)
		return err;
	if (q->sync_inflight)
		reap_sync(q);
	int r = q->sync_ring_up && submit_sync(q, q->rc_lo, q->rc_hi) ? reap_sync(q) : 0;
	if (r < 0)
		return r;
	if (r == 0 && fdatasync(q->fd) < 0)
		return -errno;
	q->res_next = s;
	q->res_end = e;
	return 0;
}

int qcow2_alloc_clusters(struct qcow2 *q, unsigned want, uint64_t *off, unsigned *got)
{
	if (q->res_next == q->res_end) {
		int err = q->ahead_end ? take_ahead(q) : reserve_now(q);
		if (err < 0)
			return err;
	}
	*off = q->res_next;
	*got = (unsigned)MIN((uint64_t)MAX(want, 1u), (q->res_end - q->res_next) >> q->cbits);
	q->res_next += (uint64_t)*got << q->cbits;
	q->stats.allocs += *got;
	if (!q->ahead_end && q->sync_ring_up)
		start_ahead(q);
	return 0;
}

int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off)
{
	unsigned got;
	return qcow2_alloc_clusters(q, 1, off, &got);
}

void qcow2_reserve_synced(struct qcow2 *q)
{
	/* Everything written before the fdatasync started is durable, the next run's counts too
	 * (the caller holds the lock: they were written before it). */
	if (q->ahead_end)
		q->ahead_synced = true;
}

int qcow2_sync_range(struct qcow2 *q, uint64_t off, uint64_t len)
{
	/* One sync at a time on the ring: one in flight is the next run's (start_ahead). */
	if (q->sync_inflight && reap_sync(q) > 0 && q->ahead_end)
		q->ahead_synced = true;
	int r = q->sync_ring_up && submit_sync(q, off, off + len) ? reap_sync(q) : 0;
	if (r != 0)
		return r > 0 ? 0 : r; /* a failed sync is the caller's error: one in line would not see it */
	if (fdatasync(q->fd) < 0)
		return -errno;
	qcow2_reserve_synced(q);
	return 0;
}

static void release_run(struct qcow2 *q, uint64_t start, uint64_t end)
{
	if (start >= end)
		return;
	if (qcow2_refcount_set_run(q, start >> q->cbits, (end - start) >> q->cbits, 0) < 0)
		return; /* leaked */
	raw_discard(q->f, start, end - start);
	if (end == q->file_size && ftruncate(q->fd, (off_t)start) == 0) {
		q->file_size = q->f->size = start;
		if (q->end == end)
			q->end = start;
	}
}

void qcow2_return_reserved(struct qcow2 *q)
{
	if (q->sync_inflight)
		reap_sync(q);
	/* The later run first, so that both can come off the end of the file. */
	release_run(q, q->ahead_start, q->ahead_end);
	release_run(q, q->res_next, q->res_end);
	q->res_next = q->res_end = q->ahead_start = q->ahead_end = 0;
	q->reserve_bytes = 0;
}

void qcow2_release_reserved(struct qcow2 *q)
{
	qcow2_return_reserved(q);
	if (q->sync_ring_up) {
		io_uring_queue_exit(&q->sync_ring);
		q->sync_ring_up = false;
	}
}
