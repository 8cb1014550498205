/* virtio-blk. Every request is checked before any byte reaches the image: header and status
 * present, data a multiple of 512 bytes, sectors inside the disk, no writes to a read-only
 * disk, discard/write-zeroes segments well formed. A bad request fails with IOERR/UNSUPP. */
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/blk/blk_int.h"
#include "devices/dev_state.h"
#include "memory/guest_mem.h"
#include "block/dirty.h"
#include "util/error.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/stat.h"
#include "util/util.h"
#include "util/io_thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SECTOR 512u

static struct virtio_blk *to_blk(struct virtio_dev *d)
{
	return (struct virtio_blk *)((char *)d - offsetof(struct virtio_blk, vdev));
}

static void blk_config_read(struct virtio_dev *d, uint32_t off, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = to_blk(d);
	uint8_t c[VIRTIO_BLK_CONFIG_LEN] = { 0 };
	le_store(c + 0, b->st.capacity, 8);
	le_store(c + 12, VIRTQ_MAX_CHAIN - 2, 4);          /* seg_max */
	le_store(c + 20, SECTOR, 4);                       /* blk_size */
	le_store(c + 36, VIRTIO_BLK_MAX_DISCARD_SECTORS, 4);
	le_store(c + 40, VIRTIO_BLK_MAX_DISCARD_SEG, 4);
	le_store(c + 44, 1, 4);                            /* discard_sector_alignment */
	le_store(c + 48, VIRTIO_BLK_MAX_DISCARD_SECTORS, 4);
	le_store(c + 52, VIRTIO_BLK_MAX_DISCARD_SEG, 4);
	c[56] = 1;                                       /* write_zeroes_may_unmap */
	memcpy(data, c + off, len);
}

/* A request slot: one given back before, else a new one (4 KiB each, made when first needed:
 * a drive whose guest keeps few requests in flight never has most of them). NULL when all are
 * in flight, or when no memory is left for a new one; then some are in flight (slot 0 is made
 * with the device), and their completions call us again. */
static struct blk_req *req_get(struct virtio_blk *b)
{
	struct blk_req *r = b->free_reqs;
	if (r)
		b->free_reqs = r->next_free;
	else if (b->nreqs < VIRTIO_BLK_QUEUE_SIZE && (r = malloc(sizeof(*r))))
		b->reqs[b->nreqs++] = r;
	if (r)
		b->inflight++;
	return r;
}

static void reqs_free(struct virtio_blk *b)
{
	while (b->nreqs)
		free(b->reqs[--b->nreqs]);
	b->free_reqs = NULL;
}

static bool reqs_full(const struct virtio_blk *b)
{
	return b->inflight == VIRTIO_BLK_QUEUE_SIZE;
}

static void req_put(struct virtio_blk *b, struct blk_req *r)
{
	r->next_free = b->free_reqs;
	b->free_reqs = r;
	b->inflight--;
}

/* The disk's chunks [off, off+len) as written, when a migration or replication copies the
 * disk (b->dirty, set by that thread). Marked before a write and again after it: a copy that
 * read a chunk meanwhile sends it once more. */
static void mark_chunks(struct virtio_blk *b, uint64_t off, uint64_t len)
{
	blk_dirty_mark(__atomic_load_n(&b->dirty, __ATOMIC_ACQUIRE), off, len);
	blk_dirty_mark(b->backup, off, len);
}

/* What every answer does but the used ring's entry: the status byte, the pages it counts as
 * written, the error count. Returns the length the entry reports. */
static uint32_t answer(struct virtio_blk *b, struct blk_req *r, uint8_t status, uint32_t data_len)
{
	*r->status = status;
	/* The push marks the data it reports (none on an error) and the chain's first byte: the
	 * status byte, and what a failed read may have written, count as written too (a harvest
	 * may have come between the pop, which marked them, and now). */
	const struct guest_mem *mem = b->vdev.mem;
	guest_mem_mark_dirty_hva(mem, r->status, 1);
	if (status != VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_IN)
		for (unsigned i = 0; i < r->ndata; i++)
			guest_mem_mark_dirty_hva(mem, r->data[i].iov_base, r->data[i].iov_len);
	if (status != VIRTIO_BLK_S_OK)
		stat_add(&b->errors, 1);
	return (status == VIRTIO_BLK_S_OK ? data_len : 0) + 1;
}

/* A request answered on the way (not on the disk's ring): into the used ring at once. */
static void finish(struct virtio_blk *b, struct blk_req *r, uint8_t status, uint32_t data_len)
{
	virtq_push(&b->vdev.vq[0], r->head, answer(b, r, status, data_len));
	req_put(b, r);
}

/* Before a synchronous write, zeroes or discard on a qcow2 image: the requests on its ring
 * finish first, since the synchronous path may move or free clusters they read or write. */
static void drain_for_sync(struct virtio_blk *b)
{
	if (b->disk.qcow2 && disk_inflight(&b->disk))
		blk_reap(b, true);
}

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t nsect)
{
	return sector <= b->st.capacity && nsect <= b->st.capacity - sector;
}

/* Discard / write-zeroes: segments follow the header in the readable part. */
static uint8_t do_segments(struct virtio_blk *b, const struct virtq_chain *c, uint32_t type)
{
	uint64_t bytes = c->out_len - 16;
	if (b->st.read_only)
		return VIRTIO_BLK_S_IOERR;
	if (bytes == 0 || bytes % 16 || bytes / 16 > VIRTIO_BLK_MAX_DISCARD_SEG)
		return VIRTIO_BLK_S_UNSUPP;
	uint8_t seg[16 * VIRTIO_BLK_MAX_DISCARD_SEG];
	virtq_chain_read(c, 16, seg, (size_t)bytes);
	/* Validate every segment before touching the image. */
	for (uint64_t i = 0; i < bytes / 16; i++) {
		uint64_t sector = le_load(seg + 16 * i, 8);
		uint32_t n = (uint32_t)le_load(seg + 16 * i + 8, 4), flags = (uint32_t)le_load(seg + 16 * i + 12, 4);
		if (flags & ~(uint32_t)VIRTIO_BLK_DISCARD_F_UNMAP)
			return VIRTIO_BLK_S_UNSUPP;
		if (type == VIRTIO_BLK_T_DISCARD && flags)
			return VIRTIO_BLK_S_UNSUPP;
		if (n > VIRTIO_BLK_MAX_DISCARD_SECTORS || !range_ok(b, sector, n))
			return VIRTIO_BLK_S_IOERR;
	}
	if (type == VIRTIO_BLK_T_WRITE_ZEROES) {
		/* Zeroes are written bytes (raw files without a zeroing fallocate write them out):
		 * charged as a write of that size, as QEMU's throttling does; a discard frees
		 * space and costs its one operation. */
		uint64_t zeroed = 0;
		for (uint64_t i = 0; i < bytes / 16; i++)
			zeroed += (uint64_t)(uint32_t)le_load(seg + 16 * i + 8, 4) * SECTOR;
		rate_limiter_charge(&b->rl, zeroed, now_ns());
	}
	drain_for_sync(b);
	for (uint64_t i = 0; i < bytes / 16; i++) {
		uint64_t sector = le_load(seg + 16 * i, 8);
		uint32_t n = (uint32_t)le_load(seg + 16 * i + 8, 4), flags = (uint32_t)le_load(seg + 16 * i + 12, 4);
		mark_chunks(b, sector * SECTOR, (uint64_t)n * SECTOR);
		int r = type == VIRTIO_BLK_T_DISCARD
				? disk_discard(&b->disk, sector * SECTOR, (uint64_t)n * SECTOR)
				: disk_write_zeroes(&b->disk, sector * SECTOR, (uint64_t)n * SECTOR,
						   flags & VIRTIO_BLK_DISCARD_F_UNMAP);
		/* again: a disk copy may have read the chunk while it changed */
		mark_chunks(b, sector * SECTOR, (uint64_t)n * SECTOR);
		if (r < 0) {
			log_limited(LOG_WARN, "%s: %s at sector %llu: %s", b->vdev.name,
				 type == VIRTIO_BLK_T_DISCARD ? "discard" : "write-zeroes",
				 (unsigned long long)sector, strerror(-r));
			return VIRTIO_BLK_S_IOERR;
		}
	}
	return VIRTIO_BLK_S_OK;
}

/* Handle one chain whose header (zeroes if it has none) is hdr: the copy the rate limiter
 * charged (the driver may change the one in its memory meanwhile). Returns true if it went to
 * io_uring (completes later). */
static bool handle(struct virtio_blk *b, const struct virtq_chain *c, struct blk_req *r, const uint8_t *hdr)
{
	r->head = c->head;
	r->ndata = 0;
	/* Header (16 readable bytes) and status (last writable byte) must exist; without a
	 * status byte there is no way to answer, so the chain goes back with nothing written. */
	if (c->in_len < 1) {
		stat_add(&b->errors, 1);
		virtq_push(&b->vdev.vq[0], c->head, 0);
		req_put(b, r);
		return false;
	}
	struct iovec st = { 0 };
	iov_sub(c->iov + c->n_out, c->n_in, c->in_len - 1, 1, &st);
	r->status = st.iov_base;
	if (c->out_len < 16) {
		finish(b, r, VIRTIO_BLK_S_IOERR, 0);
		return false;
	}
	uint32_t type = (uint32_t)le_load(hdr, 4);
	uint64_t sector = le_load(hdr + 8, 8);
	r->type = (uint8_t)type;

	switch (type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool wr = type == VIRTIO_BLK_T_OUT;
		uint64_t len = wr ? c->out_len - 16 : c->in_len - 1;
		/* A read carries no data in its readable part (beyond the header); a write none in
		 * its writable part (beyond the status). Anything else is malformed. */
		if ((wr && c->in_len != 1) || (!wr && c->out_len != 16) || len % SECTOR ||
		    !range_ok(b, sector, len / SECTOR)) {
			finish(b, r, VIRTIO_BLK_S_IOERR, 0);
			return false;
		}
		if (wr && b->st.read_only) {
			finish(b, r, VIRTIO_BLK_S_IOERR, 0);
			return false;
		}
		if (len == 0) {
			finish(b, r, VIRTIO_BLK_S_OK, 0);
			return false;
		}
		r->ndata = wr ? iov_sub(c->iov, c->n_out, 16, len, r->data)
			      : iov_sub(c->iov + c->n_out, c->n_in, 0, len, r->data);
		r->expect = len;
		r->used_len = wr ? 0 : (uint32_t)len;
		r->off = sector * SECTOR;
		if (wr)
			mark_chunks(b, r->off, len);
		if (wr)
			stat_add(&b->writes, 1);
		else
			stat_add(&b->reads, 1);
		enum raw_op op = wr ? RAW_WRITE : RAW_READ;
		if (disk_queue(&b->disk, op, sector * SECTOR, r->data, r->ndata, r) == 0)
			return true;
		if (wr)
			drain_for_sync(b);
		/* A qcow2 copy-on-write is held for the batch's one commit (blk_queue_notify). */
		int64_t res = wr ? disk_write_held(&b->disk, r->off, r->data, r->ndata)
				 : disk_sync(&b->disk, op, r->off, r->data, r->ndata);
		if (wr) /* again: a disk copy may have read the chunk meanwhile */
			mark_chunks(b, r->off, len);
		if (res < 0)
			log_limited(LOG_WARN, "%s: %s at sector %llu: %s", b->vdev.name, wr ? "write" : "read",
				 (unsigned long long)sector, strerror((int)-res));
		finish(b, r, res == (int64_t)len ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, r->used_len);
		return false;
	}
	case VIRTIO_BLK_T_FLUSH:
		stat_add(&b->flushes, 1);
		if (!b->flush_enabled || b->st.read_only) {
			finish(b, r, VIRTIO_BLK_S_OK, 0);
			return false;
		}
		r->expect = 0;
		r->used_len = 0;
		if (disk_queue(&b->disk, RAW_FLUSH, 0, NULL, 0, r) == 0)
			return true;
		finish(b, r, disk_sync(&b->disk, RAW_FLUSH, 0, NULL, 0) == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR, 0);
		return false;
	case VIRTIO_BLK_T_GET_ID: {
		if (c->in_len - 1 < VIRTIO_BLK_ID_BYTES) {
			finish(b, r, VIRTIO_BLK_S_IOERR, 0);
			return false;
		}
		virtq_chain_write(c, 0, b->st.id, VIRTIO_BLK_ID_BYTES);
		finish(b, r, VIRTIO_BLK_S_OK, VIRTIO_BLK_ID_BYTES);
		return false;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		finish(b, r, do_segments(b, c, type), 0);
		return false;
	default:
		finish(b, r, VIRTIO_BLK_S_UNSUPP, 0);
		return false;
	}
}

/* The drive's rate limiter lets this request through now (one operation, and the bytes of a
 * read or write; a write-zeroes request's bytes are charged when it is handled), or the
 * request waits in the ring for the limiter's timer. */
static bool admit(struct virtio_blk *b, const struct virtq_chain *c, const uint8_t *hdr)
{
	if (!rate_limiter_active(&b->rl))
		return true;
	uint64_t bytes = 0;
	if (c->out_len >= 16) {
		uint32_t type = (uint32_t)le_load(hdr, 4);
		if (type == VIRTIO_BLK_T_IN && c->in_len >= 1)
			bytes = c->in_len - 1;
		else if (type == VIRTIO_BLK_T_OUT)
			bytes = c->out_len - 16;
	}
	return rate_limiter_admit(&b->rl, bytes, now_ns()); /* behind an earlier request that waits */
}

static void blk_queue_notify(struct virtio_dev *d, unsigned q)
{
	struct virtio_blk *b = to_blk(d);
	struct virtq *vq = &d->vq[q];
	bool any = false, throttled = false;
	if (b->poll.adaptive)   /* no clock read on this path otherwise */
		blk_poll_woke(&b->poll, now_ns());
	for (;;) {
		while (virtio_is_running(d)) {
			struct blk_req *r = req_get(b);
			if (!r)
				break; /* every request in flight: completions will call us again */
			if (virtio_queue_pop(d, q, &b->chain) <= 0) {
				req_put(b, r);
				break;
			}
			/* The header is read once: what is charged is what is done. */
			uint8_t hdr[16] = { 0 };
			if (b->chain.out_len >= 16)
				virtq_chain_read(&b->chain, 0, hdr, 16);
			if (!admit(b, &b->chain, hdr)) {
				/* Back into the ring: the limiter's timer calls us again. */
				virtq_unpop(vq, 1);
				req_put(b, r);
				throttled = true;
				break;
			}
			if (!handle(b, &b->chain, r, hdr))
				any = true;
		}
		/* One commit of the batch's copy-on-write clusters (qcow2), without waiting. */
		disk_commit_start(&b->disk);
		/* One submit for everything popped: one system call per batch, not per request. */
		disk_kick(&b->disk);
		/* Page-cache hits complete during the submit: answer them now rather than after
		 * another trip through epoll. */
		if (blk_reap(b, false) > 0)
			any = true;
		/* Tell the driver now, not when we go idle: an interrupt-driven driver then refills
		 * the queue while we look for more work, and we find it without another notification
		 * (submitting in smaller batches to hand completions back sooner cost more in system
		 * calls than it saved: bench/blk_host.py). The driver's event index decides. */
		if (any) {
			virtio_queue_interrupt(d, q);
			any = false;
		}
		if (!virtio_is_running(d) || reqs_full(b) || throttled)
			break;
		if (virtq_has_work(vq))
			continue;
		/* Busy-poll briefly before asking for a notification: a driver that refills the
		 * queue right after reaping completions then needs no exit to tell us. */
		if (blk_poll_wait(&b->poll, vq, &b->disk))
			continue;
		if (!virtq_enable_notify(vq)) {
			if (b->poll.adaptive)
				blk_poll_slept(&b->poll, now_ns());
			break;
		}
	}
	if (any)
		virtio_queue_interrupt(d, q);
}

/* What io_uring left of a read or write: it transfers at most MAX_RW_COUNT (2 GiB - 4 KiB)
 * per request, and may answer -EAGAIN or -EINTR. The rest (or all of it) synchronously, as the
 * synchronous path loops. res: bytes or -errno, as returned. */
static int64_t finish_transfer(struct virtio_blk *b, struct blk_req *r, int64_t res)
{
	if (r->type != VIRTIO_BLK_T_IN && r->type != VIRTIO_BLK_T_OUT)
		return res;
	if (res == -EAGAIN || res == -EINTR)
		res = 0;
	if (res < 0 || (uint64_t)res >= r->expect)
		return res;
	struct iovec rest[VIRTQ_MAX_CHAIN];
	unsigned n = iov_sub(r->data, r->ndata, (uint64_t)res, r->expect - (uint64_t)res, rest);
	int64_t more = disk_sync(&b->disk, r->type == VIRTIO_BLK_T_OUT ? RAW_WRITE : RAW_READ, r->off + (uint64_t)res,
				 rest, n);
	return more < 0 ? more : res + more;
}

/* A request finished on the disk's ring (tag: its slot; res: bytes or -errno), during a
 * blk_reap: its used entry joins the reap's batch. */
static void complete_one(void *ctx, void *tag, int64_t res)
{
	struct virtio_blk *b = ctx;
	struct blk_req *r = tag;
	uint8_t status = VIRTIO_BLK_S_OK;
	res = finish_transfer(b, r, res);
	if (res < 0 || (r->type != VIRTIO_BLK_T_FLUSH && (uint64_t)res != r->expect)) {
		log_limited(LOG_WARN, "%s: %s failed: %s", b->vdev.name,
			 r->type == VIRTIO_BLK_T_IN ? "read" : r->type == VIRTIO_BLK_T_OUT ? "write" : "flush",
			 res < 0 ? strerror((int)-res) : "short transfer");
		status = VIRTIO_BLK_S_IOERR;
	}
	if (r->type == VIRTIO_BLK_T_OUT) /* again: a copy may have read the chunk meanwhile */
		mark_chunks(b, r->off, r->expect);
	if (b->nreaped == VIRTIO_BLK_QUEUE_SIZE) { /* no more are ever in flight; bounded all the same */
		virtq_push_n(&b->vdev.vq[0], b->reaped, b->nreaped);
		b->nreaped = 0;
	}
	b->reaped[b->nreaped++] = (struct virtq_used_elem){ r->head, answer(b, r, status, r->used_len) };
	req_put(b, r);
}

unsigned blk_reap(struct virtio_blk *b, bool wait)
{
	unsigned n = (unsigned)disk_reap(&b->disk, complete_one, b, wait);
	virtq_push_n(&b->vdev.vq[0], b->reaped, b->nreaped);
	b->nreaped = 0;
	return n;
}

/* Discard completions after a reset: the ring they belonged to is gone. */
static void drop_one(void *ctx, void *tag, int64_t res)
{
	struct virtio_blk *b = ctx;
	struct blk_req *r = tag;
	(void)res;
	if (r->type == VIRTIO_BLK_T_OUT) /* it may have landed: a disk copy must take the chunk again */
		mark_chunks(b, r->off, r->expect);
	req_put(b, r);
}

void blk_completions(void *opaque, int fd, uint32_t events)
{
	struct virtio_blk *b = opaque;
	struct virtio_dev *d = &b->vdev;
	pthread_mutex_lock(&d->lock);
	bool was_full = reqs_full(b);
	if (blk_reap(b, false) > 0)
		virtio_queue_interrupt(d, 0);
	/* Requests held back for lack of slots can go now. */
	if (was_full && virtio_is_running(d) && virtq_is_enabled(&d->vq[0]))
		blk_queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
}

/* The rate limiter's timer: requests held back may go now. */
static void blk_limiter_timer(void *opaque, int fd, uint32_t events)
{
	struct virtio_blk *b = opaque;
	struct virtio_dev *d = &b->vdev;
	pthread_mutex_lock(&d->lock);
	rate_limiter_timer_event(&b->rl);
	if (virtio_is_running(d) && virtq_is_enabled(&d->vq[0]))
		blk_queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
}

int virtio_blk_set_rate_limiter(struct virtio_blk *b, const struct rate_limiter_config *c)
{
	pthread_mutex_lock(&b->vdev.lock);
	int r = rate_limiter_update(&b->rl, c, now_ns());
	pthread_mutex_unlock(&b->vdev.lock);
	return r;
}

static void blk_reset(struct virtio_dev *d)
{
	struct virtio_blk *b = to_blk(d);
	disk_reap(&b->disk, drop_one, b, true);
}

/* Pausing: every request in flight completes and reaches the used ring now, and the image
 * names every cluster written (a snapshot, a migration's switch or a checkpoint may hand it
 * to another process next). */
static void blk_quiesce(struct virtio_dev *d)
{
	struct virtio_blk *b = to_blk(d);
	if (blk_reap(b, true) > 0)
		virtio_queue_interrupt(d, 0);
	int err = disk_commit(&b->disk);
	if (err < 0)
		log_limited(LOG_WARN, "%s: committing written clusters: %s", d->name, strerror(-err));
}

static void blk_destroy(struct virtio_dev *d)
{
	struct virtio_blk *b = to_blk(d);
	if (disk_async(&b->disk) && d->io)
		io_thread_remove(d->io, b->disk.file.efd);
	if (b->rl.timer_fd >= 0 && d->io)
		io_thread_remove(d->io, b->rl.timer_fd);
	rate_limiter_destroy(&b->rl);
	blk_backup_close(b);
	disk_close(&b->disk);
	reqs_free(b);
	blk_dirty_free(b->dirty);
	b->dirty = NULL;
	blk_dirty_free(b->backup);
	b->backup = NULL;
}

static const struct dev_state_ops blk_state_ops;

static const struct virtio_dev_ops blk_ops = {
	.config_read = blk_config_read,
	.reset = blk_reset,
	.quiesce = blk_quiesce,
	.queue_notify = blk_queue_notify,
	.destroy = blk_destroy,
	.state = &blk_state_ops,
};

int virtio_blk_create(struct virtio_blk *b, const struct virtio_blk_params *cfg, unsigned index,
		      const struct guest_mem *mem, struct io_thread *io)
{
	memset(b, 0, sizeof(*b));
	b->rl.timer_fd = -1;
	b->opts = (struct disk_options){ .format = cfg->format, .read_only = cfg->read_only,
					 .direct = cfg->direct, .async = cfg->async,
					 .depth = VIRTIO_BLK_QUEUE_SIZE, .no_lock = cfg->no_lock };
	/* the bitmap first: opening a qcow2 image for writing declares its bitmaps stale */
	int err = blk_backup_open(b, cfg->path, cfg->read_only, cfg->no_lock);
	if (err == 0 && (err = disk_open(&b->disk, cfg->path, &b->opts)) < 0) {
		blk_dirty_free(b->backup);
		b->backup = NULL;
	}
	if (err < 0)
		return err;
	b->st.capacity = disk_size(&b->disk) / SECTOR;
	b->st.read_only = cfg->read_only;
	strncpy(b->st.id, cfg->id ? cfg->id : "", VIRTIO_BLK_ID_BYTES);
	b->flush_enabled = cfg->flush;
	blk_poll_init(&b->poll, cfg->poll_us, blk_poll_cpus());
	struct blk_req *slot0 = malloc(sizeof(*slot0)); /* req_get counts on it */
	if (slot0) {
		slot0->next_free = NULL;
		b->free_reqs = b->reqs[b->nreqs++] = slot0;
	}
	err = slot0 ? rate_limiter_init(&b->rl, &cfg->rate_limiter, now_ns()) : -ENOMEM;
	if (err == 0 && io)
		err = rate_limiter_make_timer(&b->rl); /* PATCH may add limits later */
	if (err < 0) {
		rate_limiter_destroy(&b->rl);
		reqs_free(b);
		disk_close(&b->disk);
		blk_dirty_free(b->backup);
		b->backup = NULL;
		return err;
	}
	uint64_t features = VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			    VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE);
	if (b->flush_enabled)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	if (cfg->read_only)
		features |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	else
		features |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	char name[32];
	snprintf(name, sizeof(name), "virtio-blk%u", index);
	err = virtio_dev_init(&b->vdev, name, VIRTIO_ID_BLOCK, features, 1, VIRTIO_BLK_QUEUE_SIZE,
			      VIRTIO_BLK_CONFIG_LEN, &blk_ops, mem, io);
	if (err == 0 && disk_async(&b->disk) && io)
		err = io_thread_add_in(io, b->disk.file.efd, blk_completions, b);
	if (err == 0 && io && b->rl.timer_fd >= 0)
		err = io_thread_add_in(io, b->rl.timer_fd, blk_limiter_timer, b);
	if (err < 0) {
		virtio_dev_destroy(&b->vdev);
		return err;
	}
	log_info("%s: %s (%s), %llu sectors%s%s, %s I/O", name, cfg->path, disk_format_name(b->disk.format),
		 (unsigned long long)b->st.capacity, cfg->read_only ? ", read-only" : "",
		 b->disk.file.direct ? ", O_DIRECT" : "", disk_async(&b->disk) ? "io_uring" : "synchronous");
	return 0;
}

/* ---- saved state (section BLK, docs/snapshots.md): what the guest was told of the disk; a
 * load checks the disk attached now is the same ---- */

static void blk_save_state(void *dev, struct enc *e)
{
	struct virtio_blk *b = to_blk(dev);
	pthread_mutex_lock(&b->vdev.lock);
	put_u64(e, b->st.capacity);
	put_bytes(e, b->st.id, sizeof(b->st.id));
	put_bool(e, b->st.read_only);
	pthread_mutex_unlock(&b->vdev.lock);
}

static int blk_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct virtio_blk *b = to_blk(dev);
	struct blk_state bs;
	bs.capacity = get_u64(d);
	get_bytes(d, bs.id, sizeof(bs.id));
	bs.read_only = get_bool(d);
	int e = dec_end(d, b->vdev.name, err, errlen);
	if (e < 0)
		return e;
	if (bs.capacity != b->st.capacity || bs.read_only != b->st.read_only || memcmp(bs.id, b->st.id, sizeof(bs.id)) != 0)
		return error_set(err, errlen, -EINVAL, "%s: the disk has %llu sectors now, %llu when the snapshot was taken "
			 "(or another id or read-only setting)", b->vdev.name,
			 (unsigned long long)b->st.capacity, (unsigned long long)bs.capacity);
	return 0;
}

static const struct dev_state_ops blk_state_ops = {
	.id = STATE_ID('B', 'L', 'K', ' '), .version = 1,
	.save = blk_save_state, .load = blk_load_state,
};
