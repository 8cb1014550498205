/* qcow2 copy-on-write, ordered for a power cut without a sync on the request path.
 *
 * A first write of part of a cluster whose old content is not all zero (data from the backing
 * file, a compressed or snapshot-shared cluster) copies that content into a new cluster around
 * the new bytes. If the L2 entry naming the new cluster reached the disk before the copy did,
 * a power cut would leave the cluster reading as zeroes where the guest never wrote. So the
 * copy is made durable first — but a sync per write would make first writes run at the disk's
 * speed. Instead the new cluster is *held*: written, visible to every later lookup (reads and
 * writes use it), its entry not yet written. At the end of a batch of requests one commit
 * takes everything held: an fdatasync of the byte range the new clusters span (they come
 * from one reserved run: qcow2_reserve.c), linked in io_uring to the writes of their entries,
 * which the kernel issues only after the sync succeeded. The I/O thread goes on meanwhile;
 * finished commits are reaped later (at the next batch, or by a flush) to let go of what the
 * entries replaced and to bring the cached L2 table up to date.
 *
 * What this costs a killed petrel: a write whose cluster was still held (its commit not yet
 * through the kernel, a few milliseconds) is not in the image afterwards — the cluster reads
 * its old content, its new cluster leaks. virtio's write-back cache allows it (only flushed
 * writes must survive); a guest FLUSH, a pause, a snapshot, a migration's switch and a close
 * all wait for every commit. QEMU keeps such entries in memory until the guest's next flush.
 *
 * Without io_uring the commit is done in line: a ranged sync (qcow2_sync_range), then the
 * entries.
 *
 * A failed commit (its sync or an entry write) is answered to the guest's next FLUSH
 * (q->io_err): the kernel reports a writeback error once, to whichever sync comes first, and
 * here that is the commit's, not the flush's. Some kernels (seen on 6.18) let linked requests
 * run after a failed fsync, so an entry may then name a copy that is not durable: the
 * guest's next FLUSH fails, as it must when written data may be lost. */
#include "block/qcow2_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define HELD_FREE 0
#define HELD_NEW 1
#define HELD_COMMITTING 2
#define COMMIT_RING (QCOW2_HELD_MAX + QCOW2_COMMITS) /* every entry and each commit's sync */
#define FSYNC_TAG 0xffffu

int qcow2_commit_init(struct qcow2 *q)
{
	if (!(q->held = calloc(QCOW2_HELD_MAX, sizeof(*q->held))))
		return -ENOMEM;
	int r = io_uring_queue_init(COMMIT_RING, &q->commit_ring, 0);
	if (r < 0)
		log_warn("qcow2 %s: io_uring unavailable (%s): copy-on-write is committed in line", q->f->path,
			 strerror(-r));
	q->commit_ring_up = r == 0;
	q->commit_fixed = q->commit_ring_up && raw_register_image(q->f, &q->commit_ring);
	return 0;
}

const struct qcow2_held *qcow2_held_find(const struct qcow2 *q, uint64_t cstart)
{
	if (!q->nslots)
		return NULL;
	for (unsigned i = 0, seen = 0; seen < q->nslots && i < QCOW2_HELD_MAX; i++) {
		if (q->held[i].state == HELD_FREE)
			continue;
		if (q->held[i].voff == cstart)
			return &q->held[i];
		seen++;
	}
	return NULL;
}

static struct map old_map(const struct qcow2_held *h)
{
	return (struct map){ .type = (enum ctype)h->old_type, .entry = h->old_entry, .l2_off = h->l2_off,
			     .l2_index = h->l2_index };
}

/* The entry written by petrel itself (not by the ring), then the old cluster let go of. */
static int name_in_line(struct qcow2 *q, const struct qcow2_held *h)
{
	struct map m = old_map(h);
	int r = qcow2_set_l2(q, &m, qcow2_be64(h->be));
	return r ? r : qcow2_release(q, &m);
}

static void free_slot(struct qcow2 *q, struct qcow2_held *h)
{
	h->state = HELD_FREE;
	q->nslots--;
}

/* A commit's last completion came: its entries are in the file (or, if the sync or a write
 * failed, written now in line, so that the image says what the guest was told; the error is
 * logged). Then the cached tables learn them and the replaced clusters are let go of. */
static int finish(struct qcow2 *q, unsigned g)
{
	int res = q->commits[g].res, err = 0;
	q->commits[g].busy = false;
	if (res < 0)
		qcow2_keep_err(q, res);
	if (res < 0 && !q->commit_failed_logged) {
		log_error("qcow2 %s: committing copied clusters: %s; their entries are written without it", q->f->path,
			  strerror(-res));
		q->commit_failed_logged = true;
	}
	for (unsigned i = 0; i < QCOW2_HELD_MAX; i++) {
		struct qcow2_held *h = &q->held[i];
		if (h->state != HELD_COMMITTING || h->group != g)
			continue;
		int r;
		if (res < 0) {
			r = name_in_line(q, h);
		} else { /* the file has the entry: the cached table learns it */
			uint8_t *l2 = qcow2_cache_peek(&q->l2c, h->l2_off);
			if (l2)
				memcpy(l2 + 8 * h->l2_index, h->be, 8);
			struct map m = old_map(h);
			r = qcow2_release(q, &m);
		}
		if (r < 0 && err == 0)
			err = r;
		free_slot(q, h);
	}
	return err;
}

/* The kernel took n more requests from the ring. */
static void taken(struct qcow2 *q, int n)
{
	if (n > 0)
		q->ring_inflight += (unsigned)n;
}

/* Wait for every request the kernel took (their results no longer matter: the entries are
 * written in line after), so that none of them lands after what is written in line.
 * false if the ring cannot be waited on. */
static bool drain(struct qcow2 *q)
{
	while (q->ring_inflight) {
		struct io_uring_cqe *cqe;
		int r = io_uring_wait_cqe(&q->commit_ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			return false;
		io_uring_cqe_seen(&q->commit_ring, cqe);
		q->ring_inflight--;
	}
	return true;
}

/* The ring is unusable: what the kernel took is waited for, every committing entry is
 * written in line, and from now on commits are done in line. If the ring cannot even be
 * waited on, writes the kernel may still do read the old records: those are kept as they
 * are (retired, never reused) and a fresh array takes the records not committing. */
static int ring_failed(struct qcow2 *q, int r)
{
	log_warn("qcow2 %s: the commit ring failed: %s", q->f->path, strerror(-r));
	if (!drain(q))
		log_error("qcow2 %s: requests on the failed commit ring cannot be waited for", q->f->path);
	struct qcow2_held *fresh = calloc(QCOW2_HELD_MAX, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM; /* the commits stay busy: tried again later */
	int err = 0;
	for (unsigned i = 0; i < QCOW2_HELD_MAX; i++)
		if (q->held[i].state == HELD_COMMITTING) {
			int e = name_in_line(q, &q->held[i]);
			err = err ? err : e;
			q->nslots--;
		} else if (q->held[i].state == HELD_NEW) {
			fresh[i] = q->held[i];
		}
	for (unsigned g = 0; g < QCOW2_COMMITS; g++)
		q->commits[g].busy = false;
	q->held_retired = q->held;
	q->held = fresh;
	q->commit_ring_up = false; /* the ring itself goes at close */
	return err;
}

/* Take the completions there are (wait: until no commit is in flight). */
static int reap(struct qcow2 *q, bool wait)
{
	int err = 0;
	for (;;) {
		bool busy = false;
		for (unsigned g = 0; g < QCOW2_COMMITS; g++)
			busy |= q->commits[g].busy;
		if (!busy)
			return err;
		/* What a partial submit left in the ring goes first: a commit waited for is whole. */
		if (io_uring_sq_ready(&q->commit_ring)) {
			int s = io_uring_submit(&q->commit_ring);
			if (s <= 0 && s != -EINTR) {
				int e = ring_failed(q, s < 0 ? s : -EIO);
				return err ? err : e;
			}
			taken(q, s);
		}
		struct io_uring_cqe *cqe;
		int r = wait ? io_uring_wait_cqe(&q->commit_ring, &cqe) : io_uring_peek_cqe(&q->commit_ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r == -EAGAIN && !wait)
			return err;
		if (r < 0) {
			int e = ring_failed(q, r);
			return err ? err : e;
		}
		uint64_t tag = cqe->user_data;
		int res = cqe->res;
		io_uring_cqe_seen(&q->commit_ring, cqe);
		q->ring_inflight--;
		unsigned g = (unsigned)(tag >> 16);
		if (g >= QCOW2_COMMITS || !q->commits[g].busy)
			continue;
		bool sync = (tag & 0xffff) == FSYNC_TAG;
		if ((sync ? res < 0 : res != 8) && q->commits[g].res == 0)
			q->commits[g].res = res < 0 ? res : -EIO; /* a cancelled write: the sync failed */
		if (--q->commits[g].cqes == 0) {
			int e = finish(q, g);
			err = err ? err : e;
		}
	}
}

/* Without a ring: sync the copies, then write the entries, in line. */
static int commit_in_line(struct qcow2 *q, uint64_t lo, uint64_t hi)
{
	int err = qcow2_sync_range(q, lo, hi - lo);
	if (err < 0)
		log_error("qcow2 %s: syncing copied clusters: %s; their entries are written without it", q->f->path,
			  strerror(-err));
	for (unsigned i = 0; i < QCOW2_HELD_MAX; i++) {
		struct qcow2_held *h = &q->held[i];
		if (h->state != HELD_NEW)
			continue;
		int r = name_in_line(q, h);
		err = err ? err : r;
		free_slot(q, h);
	}
	q->nnew = 0;
	return err;
}

int qcow2_commit_start_locked(struct qcow2 *q)
{
	if (!q->held)
		return 0;
	int err = q->commit_ring_up ? reap(q, false) : 0;
	if (!q->nnew)
		return err;
	uint64_t lo = UINT64_MAX, hi = 0;
	for (unsigned i = 0; i < QCOW2_HELD_MAX; i++)
		if (q->held[i].state == HELD_NEW) {
			lo = MIN(lo, q->held[i].host);
			hi = MAX(hi, q->held[i].host + q->held[i].kept);
		}
	q->stats.cow_syncs++;
	if (!q->commit_ring_up)
		return commit_in_line(q, lo, hi);
	unsigned g = 0;
	while (g < QCOW2_COMMITS && q->commits[g].busy)
		g++;
	if (g == QCOW2_COMMITS || io_uring_sq_space_left(&q->commit_ring) < q->nnew + 1) {
		int e = reap(q, true);
		err = err ? err : e;
		if (!q->commit_ring_up)
			return commit_in_line(q, lo, hi);
		g = 0;
	}
	/* The sync of the copies, then each entry: linked, so the kernel writes an entry only
	 * after the sync succeeded (a failed sync cancels the rest). */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&q->commit_ring);
	qcow2_prep_sync(sqe, q->fd, lo, hi);
	if (q->commit_fixed)
		raw_sqe_fixed(sqe);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = ((uint64_t)g << 16) | FSYNC_TAG;
	unsigned n = 0;
	for (unsigned i = 0; i < QCOW2_HELD_MAX; i++) {
		struct qcow2_held *h = &q->held[i];
		if (h->state != HELD_NEW)
			continue;
		sqe = io_uring_get_sqe(&q->commit_ring);
		io_uring_prep_write(sqe, q->fd, h->be, 8, h->l2_off + 8 * h->l2_index);
		if (q->commit_fixed)
			raw_sqe_fixed(sqe);
		if (++n < q->nnew)
			sqe->flags |= IOSQE_IO_LINK;
		sqe->user_data = ((uint64_t)g << 16) | i;
		h->state = HELD_COMMITTING;
		h->group = g;
	}
	q->commits[g] = (typeof(q->commits[g])){ .cqes = n + 1, .res = 0, .busy = true };
	q->nnew = 0;
	int r = io_uring_submit(&q->commit_ring);
	if (r <= 0) { /* nothing went: the requests still sit in the ring, never submit again */
		int e = ring_failed(q, r < 0 ? r : -EIO);
		return err ? err : e;
	}
	taken(q, r);
	return err; /* a part went: the rest goes with the next reap */
}

int qcow2_commit_locked(struct qcow2 *q)
{
	if (!q->held)
		return 0;
	int err = qcow2_commit_start_locked(q);
	int e = q->commit_ring_up ? reap(q, true) : 0;
	return err ? err : e;
}

int qcow2_hold(struct qcow2 *q, const struct map *m, uint64_t cstart, uint64_t host, uint64_t kept)
{
	if (!q->held)
		return -EROFS;
	if (q->nslots == QCOW2_HELD_MAX) {
		int err = qcow2_commit_locked(q);
		if (err < 0)
			return err;
	}
	struct qcow2_held *h = q->held;
	while (h->state != HELD_FREE)
		h++;
	*h = (struct qcow2_held){ .voff = cstart, .host = host, .kept = kept, .l2_off = m->l2_off,
				  .l2_index = m->l2_index, .old_entry = m->entry, .old_type = (int)m->type,
				  .state = HELD_NEW };
	qcow2_put_be64(h->be, host | QCOW2_OFLAG_COPIED);
	q->nslots++;
	q->nnew++;
	return 0;
}

void qcow2_commit_exit(struct qcow2 *q)
{
	qcow2_commit_locked(q);
	if (q->commit_ring_up || q->held_retired)
		io_uring_queue_exit(&q->commit_ring);
	q->commit_ring_up = false;
	free(q->held);
	q->held = NULL;
	/* held_retired is left: a write the kernel had not finished when the ring failed may
	 * still read it (one array, only ever after a ring failure). */
}
