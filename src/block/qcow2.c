/* qcow2 images: open, the guest-offset -> host-offset mapping, reads (writes: qcow2_write.c). */
#include "block/disk.h"
#include "util/error.h"
#include "util/iov.h"
#include "block/qcow2_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define L2_CACHE_MAX_BYTES (32u << 20)
#define RB_CACHE_ENTRIES 8

static int read_at(struct qcow2 *q, void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { buf, len };
	int64_t r = raw_sync(q->f, RAW_READ, off, &iov, 1);
	return r < 0 ? (int)r : 0;
}

/* Everything read at open is checked here; a bad table is refused before the guest runs. */
static int load_tables(struct qcow2 *q, char *err, size_t errlen)
{
	uint64_t l1_bytes = (uint64_t)q->h.l1_size * 8, rt_bytes = (uint64_t)q->h.refcount_table_clusters * q->cs;
	uint8_t *raw = malloc(MAX(l1_bytes, rt_bytes) + 8);
	q->l1 = calloc(q->h.l1_size + 1, 8);
	q->rt_entries = rt_bytes / 8;
	q->rt = calloc(q->rt_entries, 8);
	if (!raw || !q->l1 || !q->rt) {
		free(raw);
		return error_set(err, errlen, -ENOMEM, "out of memory for the tables");
	}
	int r = l1_bytes ? read_at(q, raw, l1_bytes, q->h.l1_table_offset) : 0;
	for (uint32_t i = 0; r == 0 && i < q->h.l1_size; i++) {
		uint64_t e = qcow2_be64(raw + 8 * i), off = e & QCOW2_OFFSET_MASK;
		if ((e & ~(QCOW2_OFFSET_MASK | QCOW2_OFLAG_COPIED)) || off % q->cs || off >= q->file_size) {
			r = error_set(err, errlen, -EINVAL,
				      "L1 entry %u (0x%016llx) is invalid or points past the end of the file",
				      i, (unsigned long long)e);
		}
		q->l1[i] = e;
	}
	if (r == 0)
		r = read_at(q, raw, rt_bytes, q->rt_off);
	for (uint64_t i = 0; r == 0 && i < q->rt_entries; i++) {
		uint64_t off = qcow2_be64(raw + 8 * i) & QCOW2_REFT_OFFSET_MASK;
		if (off % q->cs || off >= q->file_size) {
			r = error_set(err, errlen, -EINVAL,
				      "refcount table entry %llu (%llu) is misaligned or past the end of the file",
				      (unsigned long long)i, (unsigned long long)off);
		}
		q->rt[i] = off;
	}
	if (r == -EIO)
		r = error_set(err, errlen, r, "the tables are truncated");
	else if (r < 0 && r != -EINVAL)
		r = error_set(err, errlen, r, "reading the tables: %s", strerror(-r));
	free(raw);
	return r;
}

/* The header and its extensions lie in the first cluster: read that much (the cluster size is
 * at byte 20), not the largest cluster's 2 MiB. A header too short or with a bad cluster size
 * is read (its first 4 KiB) for the parser to refuse. */
static int read_header(struct qcow2 *q, uint8_t **out, size_t *len)
{
	uint8_t head[24];
	size_t n = (size_t)MIN(q->file_size, sizeof(head));
	int r = read_at(q, head, n, 0);
	if (r < 0)
		return r;
	uint32_t bits = n == sizeof(head) ? qcow2_be32(head + 20) : 0;
	bool valid = bits >= QCOW2_MIN_CLUSTER_BITS && bits <= QCOW2_MAX_CLUSTER_BITS;
	n = (size_t)MIN(q->file_size, valid ? (uint64_t)1 << bits : 4096);
	if (!(*out = malloc(n ? n : 1)))
		return -ENOMEM;
	*len = n;
	return read_at(q, *out, n, 0);
}

int qcow2_open(struct qcow2 **out, struct raw_file *f, bool read_only, char *err, size_t errlen)
{
	*out = NULL;
	struct qcow2 *q = calloc(1, sizeof(*q));
	if (!q)
		return error_set(err, errlen, -ENOMEM, "out of memory");
	pthread_mutex_init(&q->lock, NULL);
	q->f = f;
	q->fd = f->fd;
	q->file_size = f->size;
	q->read_only = read_only;
	uint8_t *hdr = NULL;
	size_t got = 0;
	int r = read_header(q, &hdr, &got);
	if (r < 0)
		r = error_set(err, errlen, r, "cannot read the header: %s", strerror(-r));
	else
		r = qcow2_header_parse(hdr, got, f->size, &q->h, err, errlen);
	free(hdr);
	if (r < 0)
		goto fail;
	q->cbits = q->h.cluster_bits;
	q->cs = 1ull << q->cbits;
	q->l2_bits = q->cbits - 3;
	q->rc_bits = 1u << q->h.refcount_order;
	q->rb_entries = q->cs * 8 / q->rc_bits;
	q->rc_max = q->rc_bits == 64 ? UINT64_MAX : (1ull << q->rc_bits) - 1;
	q->rt_off = q->h.refcount_table_offset;
	if (!read_only && q->h.nb_snapshots) {
		r = error_set(err, errlen, -ENOTSUP,
			      "the image has %u internal snapshots: petrel opens it read-only only",
			      q->h.nb_snapshots);
		goto fail;
	}
	if (!read_only && (q->h.incompatible & QCOW2_INCOMPAT_DIRTY)) {
		r = error_set(err, errlen, -ENOTSUP,
			      "the image's refcounts are dirty (lazy refcounts): repair "
			      "it with qemu-img check -r all, or open it read-only");
		goto fail;
	}
	if ((r = load_tables(q, err, errlen)) < 0)
		goto fail;
	/* An L2 table maps cs/8 clusters: cache enough of them for the whole disk, up to a cap. */
	uint64_t per_l2 = q->cs << q->l2_bits, tables = (q->h.size + per_l2 - 1) / per_l2;
	unsigned n = (unsigned)MAX(4u, MIN(tables, (uint64_t)(L2_CACHE_MAX_BYTES >> q->cbits)));
	q->buf = malloc(q->cs);
	q->zout = malloc(q->cs);
	q->zin = malloc(2 * q->cs);
	if (!q->buf || !q->zout || !q->zin || qcow2_cache_init(&q->l2c, n, q->cs) < 0 ||
	    qcow2_cache_init(&q->rbc, RB_CACHE_ENTRIES, q->cs) < 0) {
		r = error_set(err, errlen, -ENOMEM, "out of memory for the caches");
		goto fail;
	}
	if ((r = qcow2_find_end(q)) < 0) {
		r = error_set(err, errlen, r, "reading the refcount blocks: %s",
			      r == -EIO ? "truncated" : strerror(-r));
		goto fail;
	}
	if (!read_only && q->h.version >= 3 && q->h.autoclear) {
		/* Features this writer does not keep up to date (bitmaps, ...) are declared stale. */
		uint8_t zero[8] = { 0 };
		if ((r = qcow2_pwrite(q, zero, 8, QCOW2_OFF_AUTOCLEAR)) < 0) {
			r = error_set(err, errlen, r, "cannot write the header: %s", strerror(-r));
			goto fail;
		}
		q->h.autoclear = 0;
	}
	qcow2_reserve_init(q);
	if (!read_only && (r = qcow2_commit_init(q)) < 0) {
		r = error_set(err, errlen, r, "out of memory for the copy-on-write records");
		goto fail;
	}
	*out = q;
	return 0;
fail:
	qcow2_close(q);
	return r;
}

const struct qcow2_header *qcow2_header(const struct qcow2 *q) { return &q->h; }
const struct qcow2_stats *qcow2_stats(const struct qcow2 *q) { return &q->stats; }

void qcow2_set_backing(struct qcow2 *q, struct disk *backing)
{
	q->backing = backing;
}

struct disk *qcow2_backing(const struct qcow2 *q)
{
	return q->backing;
}

void qcow2_set_file(struct qcow2 *q, struct raw_file *f)
{
	q->f = f;
	q->fd = f->fd;
}

void qcow2_close(struct qcow2 *q)
{
	if (!q)
		return;
	if (!q->read_only && q->rt) {
		qcow2_commit_exit(q);
		if (q->nfrees && fdatasync(q->fd) == 0)
			qcow2_apply_frees(q);
		qcow2_release_reserved(q);
	}
	free(q->frees);
	if (q->backing) {
		disk_close(q->backing);
		free(q->backing);
	}
	qcow2_cache_free(&q->l2c);
	qcow2_cache_free(&q->rbc);
	free(q->l1);
	free(q->rt);
	free(q->buf);
	free(q->zin);
	free(q->zout);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

/* ---- mapping ---- */


int qcow2_corrupt(struct qcow2 *q, uint64_t voff, const char *what, uint64_t v)
{
	log_limited(LOG_ERROR, "qcow2 %s: guest offset %llu: %s (0x%llx): corrupt image", q->f->path,
		  (unsigned long long)voff, what, (unsigned long long)v);
	return -EIO;
}

int qcow2_lookup(struct qcow2 *q, uint64_t voff, struct map *m)
{
	memset(m, 0, sizeof(*m));
	uint64_t l1i = voff >> (q->cbits + q->l2_bits);
	m->l2_index = (voff >> q->cbits) & ((1ull << q->l2_bits) - 1);
	if (l1i >= q->h.l1_size)
		return qcow2_corrupt(q, voff, "outside the L1 table", l1i);
	m->l2_off = q->l1[l1i] & QCOW2_OFFSET_MASK;
	const struct qcow2_held *h = qcow2_held_find(q, voff & ~(q->cs - 1));
	if (h) { /* written; its entry is not in the file yet */
		m->type = C_NORMAL;
		m->host = h->host;
		m->entry = h->host | QCOW2_OFLAG_COPIED;
		return 0;
	}
	if (!m->l2_off) {
		m->type = C_UNALLOC;
		return 0;
	}
	int err = 0;
	uint8_t *l2 = qcow2_cache_get(&q->l2c, q->fd, m->l2_off, 0, &err);
	if (!l2)
		return err == -EIO ? qcow2_corrupt(q, voff, "L2 table past the end of the file", m->l2_off) : err;
	uint64_t e = m->entry = qcow2_be64(l2 + 8 * m->l2_index);
	if (e & QCOW2_OFLAG_COMPRESSED) {
		m->type = C_COMPRESSED;
		return 0;
	}
	if (e & QCOW2_L2E_RESERVED)
		return qcow2_corrupt(q, voff, "L2 entry with reserved bits set", e);
	m->host = e & QCOW2_OFFSET_MASK;
	if ((e & QCOW2_OFLAG_ZERO) && q->h.version >= 3)
		m->type = C_ZERO;
	else if (!m->host)
		m->type = C_UNALLOC;
	else if (m->host % q->cs || m->host >= q->file_size)
		return qcow2_corrupt(q, voff, "data cluster misaligned or past the end of the file", m->host);
	else
		m->type = C_NORMAL;
	return 0;
}

/* A compressed cluster's extent in the file. */
void qcow2_compressed_extent(struct qcow2 *q, uint64_t e, uint64_t *off, uint64_t *len)
{
	unsigned x = 62 - (q->cbits - 8);
	*off = e & ((1ull << x) - 1);
	uint64_t sectors = (e >> x) & ((1ull << (62 - x)) - 1);
	*len = (sectors + 1) * 512 - (*off & 511);
}

/* Inflate a compressed cluster into q->zout; it must fill exactly one cluster. */
static int decompress(struct qcow2 *q, uint64_t voff, uint64_t e)
{
	if (q->zcached == e)
		return 0;
	uint64_t off, len;
	qcow2_compressed_extent(q, e, &off, &len);
	if (off >= q->file_size)
		return qcow2_corrupt(q, voff, "compressed cluster past the end of the file", off);
	len = MIN(len, MIN(2 * q->cs, q->file_size - off));
	if (read_at(q, q->zin, len, off) < 0)
		return qcow2_corrupt(q, voff, "compressed cluster cannot be read", off);
	z_stream z = { 0 };
	if (inflateInit2(&z, -15) != Z_OK)
		return -ENOMEM;
	z.next_in = q->zin;
	z.avail_in = (uInt)len;
	z.next_out = q->zout;
	z.avail_out = (uInt)q->cs;
	int r = inflate(&z, Z_FINISH);
	bool full = z.avail_out == 0;
	inflateEnd(&z);
	q->zcached = 0;
	if (!((r == Z_STREAM_END || r == Z_BUF_ERROR) && full))
		return qcow2_corrupt(q, voff, "compressed cluster does not inflate to one cluster", off);
	q->zcached = e;
	q->stats.compressed_reads++;
	return 0;
}

/* ---- reads ---- */

/* Read [voff, voff+len) of one cluster, whose mapping is m, into iov. */
int qcow2_read_piece(struct qcow2 *q, const struct map *m, uint64_t voff, const struct iovec *iov, unsigned n,
		      uint64_t len)
{
	switch (m->type) {
	case C_ZERO:
		iov_copy(iov, n, NULL, true);
		return 0;
	case C_UNALLOC: {
		uint64_t bsize = q->backing ? disk_size(q->backing) : 0;
		uint64_t have = voff < bsize ? MIN(len, bsize - voff) : 0;
		struct iovec part[IOV_MAX_PIECES];
		if (have) {
			unsigned k = iov_sub(iov, n, 0, have, part);
			int64_t r = disk_sync(q->backing, RAW_READ, voff, part, k);
			if (r < 0)
				return (int)r;
			q->stats.backing_reads++;
		}
		if (have < len) {
			unsigned k = iov_sub(iov, n, have, len - have, part);
			iov_copy(part, k, NULL, true);
		}
		return 0;
	}
	case C_COMPRESSED: {
		int r = decompress(q, voff, m->entry);
		if (r == 0)
			iov_copy(iov, n, q->zout + (voff & (q->cs - 1)), true);
		return r;
	}
	case C_NORMAL: {
		uint64_t at = m->host + (voff & (q->cs - 1));
		/* A cluster at the end of the file may be short: the rest reads as zeroes. */
		uint64_t have = at < q->file_size ? MIN(len, q->file_size - at) : 0;
		struct iovec part[IOV_MAX_PIECES];
		unsigned k = iov_sub(iov, n, 0, have, part);
		int64_t r = have ? raw_sync(q->f, RAW_READ, at, part, k) : 0;
		if (r < 0)
			return (int)r;
		if (have < len) {
			k = iov_sub(iov, n, have, len - have, part);
			iov_copy(part, k, NULL, true);
		}
		return 0;
	}
	}
	return -EIO;
}

static int flush_locked(struct qcow2 *q)
{
	int err = qcow2_commit_locked(q);
	if (err == 0 && fdatasync(q->fd) < 0)
		err = -errno;
	if (err == 0) {
		qcow2_reserve_synced(q);
		err = qcow2_apply_frees(q);
	}
	/* A sync or commit that failed since the last flush (its error reached no guest request) */
	if (q->io_err) {
		err = err ? err : q->io_err;
		q->io_err = 0;
	}
	return err;
}

static int64_t rw_locked(struct qcow2 *q, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	if (op == RAW_FLUSH)
		return flush_locked(q);
	uint64_t total = iov_total(iov, n), done = 0;
	if (off > q->h.size || total > q->h.size - off)
		return -EINVAL;
	if (op == RAW_WRITE && q->read_only)
		return -EROFS;
	if (n > IOV_MAX_PIECES)
		return -EINVAL;
	while (done < total) {
		uint64_t voff = off + done, len = MIN(total - done, q->cs - (voff & (q->cs - 1)));
		struct iovec part[IOV_MAX_PIECES];
		unsigned k;
		int err;
		if (op == RAW_WRITE) {
			err = qcow2_write_clusters(q, voff, iov, n, done, &len, total - done);
		} else {
			struct map m;
			err = qcow2_lookup(q, voff, &m);
			/* Clusters that follow each other in the file too are read in one go. */
			uint64_t expect = m.host + q->cs;
			while (err == 0 && m.type == C_NORMAL && done + len < total) {
				struct map next;
				uint64_t nlen = MIN(total - done - len, q->cs);
				if (qcow2_lookup(q, voff + len, &next) < 0 || next.type != C_NORMAL || next.host != expect)
					break;
				len += nlen;
				expect += q->cs;
			}
			k = iov_sub(iov, n, done, len, part);
			if (err == 0)
				err = qcow2_read_piece(q, &m, voff, part, k, len);
		}
		if (err < 0)
			return err;
		done += len;
	}
	return (int64_t)total;
}

int qcow2_flush(struct qcow2 *q)
{
	pthread_mutex_lock(&q->lock);
	int r = flush_locked(q);
	pthread_mutex_unlock(&q->lock);
	return r;
}

static int status_locked(struct qcow2 *q, uint64_t off, uint64_t *len, bool *data)
{
	uint64_t done = 0, want = MIN(*len, q->h.size > off ? q->h.size - off : 0);
	int kind = -1; /* 0 zero, 1 data, 2 backing */
	while (done < want) {
		struct map m;
		uint64_t voff = off + done, piece = MIN(want - done, q->cs - (voff & (q->cs - 1)));
		int err = qcow2_lookup(q, voff, &m);
		if (err < 0)
			return err;
		int k = m.type == C_NORMAL || m.type == C_COMPRESSED ? 1 : m.type == C_UNALLOC && q->backing ? 2 : 0;
		if (kind >= 0 && k != kind)
			break;
		kind = k;
		done += piece;
	}
	if (kind < 0) { /* past the end */
		*data = false;
		return 0;
	}
	*len = done;
	*data = kind == 1;
	if (kind == 2) {
		uint64_t bsize = disk_size(q->backing);
		if (off >= bsize) {
			*data = false;
		} else {
			*len = MIN(*len, bsize - off);
			return disk_status(q->backing, off, len, data);
		}
	}
	return 0;
}

/* ---- one run of one file (qcow2_map_extent) ---- */

static int map_extent_locked(struct qcow2 *q, enum raw_op op, uint64_t off, uint64_t len, int *fd, uint64_t *host)
{
	if (!len || off > q->h.size || len > q->h.size - off || (op == RAW_WRITE && q->read_only))
		return -EAGAIN;
	enum ctype kind = C_UNALLOC;
	uint64_t start = 0;
	for (uint64_t done = 0; done < len;) {
		struct map m;
		uint64_t voff = off + done, in = voff & (q->cs - 1);
		if (qcow2_lookup(q, voff, &m) < 0)
			return -EAGAIN; /* qcow2_rw reports it */
		if (m.type != C_NORMAL && (m.type != C_UNALLOC || op != RAW_READ))
			return -EAGAIN;
		if (op == RAW_WRITE && !(m.entry & QCOW2_OFLAG_COPIED))
			return -EAGAIN; /* shared with a snapshot: copy-on-write */
		if (done == 0) {
			kind = m.type;
			start = m.host + in;
		} else if (m.type != kind || (kind == C_NORMAL && m.host + in != start + done)) {
			return -EAGAIN;
		}
		done += MIN(len - done, q->cs - in);
	}
	if (kind == C_NORMAL) {
		if (start + len > q->file_size)
			return -EAGAIN; /* a short last cluster reads as zeroes past the end */
		*fd = q->fd;
		*host = start;
		return 0;
	}
	/* Unallocated all through: the backing file's bytes at the same offsets. */
	struct disk *b = q->backing;
	if (!b || off + len > disk_size(b))
		return -EAGAIN;
	if (b->qcow2) {
		int r = qcow2_map_extent(b->qcow2, RAW_READ, off, len, fd, host);
		if (r == 0)
			q->stats.backing_reads++;
		return r;
	}
	if (b->file.direct)
		return -EAGAIN;
	*fd = b->file.fd;
	*host = off;
	q->stats.backing_reads++;
	return 0;
}

int qcow2_map_extent(struct qcow2 *q, enum raw_op op, uint64_t off, uint64_t len, int *fd, uint64_t *host)
{
	pthread_mutex_lock(&q->lock);
	int r = map_extent_locked(q, op, off, len, fd, host);
	pthread_mutex_unlock(&q->lock);
	return r;
}

/* ---- the entry points: one request at a time ---- */

/* Held or not, one write's copies are synced once, before the request ends (a read holds
 * nothing: it leaves the batch's commit to the batch's end). */
static int64_t rw_hold(struct qcow2 *q, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n,
		       bool hold)
{
	pthread_mutex_lock(&q->lock);
	int64_t r = rw_locked(q, op, off, iov, n);
	int err = hold || op == RAW_READ ? 0 : qcow2_commit_locked(q);
	pthread_mutex_unlock(&q->lock);
	return r >= 0 && err < 0 ? err : r;
}

int64_t qcow2_rw(struct qcow2 *q, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	return rw_hold(q, op, off, iov, n, false);
}

int64_t qcow2_rw_held(struct qcow2 *q, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	return rw_hold(q, op, off, iov, n, true);
}

int qcow2_handover(struct qcow2 *q)
{
	if (q->read_only)
		return 0;
	pthread_mutex_lock(&q->lock);
	int err = flush_locked(q); /* every commit, then the data, then the frees that waited */
	if (err == 0) {
		qcow2_return_reserved(q);
		if (fdatasync(q->fd) < 0)
			err = -errno;
	}
	pthread_mutex_unlock(&q->lock);
	return err;
}

int qcow2_commit_start(struct qcow2 *q)
{
	pthread_mutex_lock(&q->lock);
	int r = qcow2_commit_start_locked(q);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int qcow2_commit(struct qcow2 *q)
{
	pthread_mutex_lock(&q->lock);
	int r = qcow2_commit_locked(q);
	pthread_mutex_unlock(&q->lock);
	return r;
}

int qcow2_zero(struct qcow2 *q, uint64_t off, uint64_t len, bool discard)
{
	pthread_mutex_lock(&q->lock);
	int r = qcow2_commit_locked(q); /* entries it changes must not be overwritten by a commit */
	if (r == 0)
		r = qcow2_zero_locked(q, off, len, discard);
	int e = qcow2_commit_locked(q); /* the partial clusters it zeroed by copy-on-write */
	if (r == 0)
		r = e;
	pthread_mutex_unlock(&q->lock);
	return r;
}

int qcow2_status(struct qcow2 *q, uint64_t off, uint64_t *len, bool *data)
{
	pthread_mutex_lock(&q->lock);
	int r = status_locked(q, off, len, data);
	pthread_mutex_unlock(&q->lock);
	return r;
}
