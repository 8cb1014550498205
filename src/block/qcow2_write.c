/* qcow2 writes: in place where a cluster is this image's alone, else into new clusters
 * (copy-on-write of what the old one held around the new bytes); write-zeroes and discard.
 * The order that keeps the image consistent wherever the process or the machine stops: a new
 * cluster's data, then the L2 entry pointing at it, then the old cluster let go of (its
 * refcount was durable before it was handed out: qcow2_reserve.c). Where the new cluster
 * keeps old non-zero bytes (copy-on-write), they are made durable before the entry: after a
 * power cut the entry alone would name a cluster reading as zeroes, losing data the guest
 * never wrote. */
#include "block/disk.h"
#include "util/iov.h"
#include "block/qcow2_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define ALLOC_BATCH 128 /* whole clusters allocated and written at once */

/* The L2 table for voff, allocated (all unallocated) if there is none. */
static int ensure_l2(struct qcow2 *q, uint64_t voff, struct map *m)
{
	uint64_t l1i = voff >> (q->cbits + q->l2_bits);
	if (m->l2_off) {
		if (!(q->l1[l1i] & QCOW2_OFLAG_COPIED))
			return qcow2_corrupt(q, voff, "L2 table shared with a snapshot cannot be written", m->l2_off);
		return 0;
	}
	uint64_t off;
	int err = qcow2_alloc_cluster(q, &off);
	if (err < 0)
		return err;
	uint8_t *l2 = qcow2_cache_get(&q->l2c, q->fd, off, 1, &err);
	if (!l2 || (err = qcow2_pwrite(q, l2, q->cs, off)) < 0)
		return err;
	uint64_t e = off | QCOW2_OFLAG_COPIED;
	uint8_t be[8];
	qcow2_put_be64(be, e);
	if ((err = qcow2_pwrite(q, be, 8, q->h.l1_table_offset + 8 * l1i)) < 0)
		return err;
	q->l1[l1i] = e;
	m->l2_off = off;
	return 0;
}

int qcow2_set_l2(struct qcow2 *q, const struct map *m, uint64_t e)
{
	int err = 0;
	uint8_t *l2 = qcow2_cache_get(&q->l2c, q->fd, m->l2_off, 0, &err);
	if (!l2)
		return err;
	qcow2_put_be64(l2 + 8 * m->l2_index, e);
	return qcow2_pwrite(q, l2 + 8 * m->l2_index, 8, m->l2_off + 8 * m->l2_index);
}

/* Once the new entry is durable: a power cut must not find the old entry on disk with its
 * cluster's count already dropped. */
int qcow2_release(struct qcow2 *q, const struct map *m)
{
	if (m->type == C_COMPRESSED) {
		uint64_t off, len;
		qcow2_compressed_extent(q, m->entry, &off, &len);
		if (q->zcached == m->entry)
			q->zcached = 0;
		return qcow2_unref_later(q, off, len);
	}
	uint64_t host = m->entry & QCOW2_OFFSET_MASK;
	return host ? qcow2_unref_later(q, host, q->cs) : 0;
}

/* Fill the new cluster at host with the old content of the cluster m maps around the new
 * bytes [in, in+len) (n == 0: zeroes). The new cluster reads as zeroes (qcow2_alloc_cluster):
 * only the bytes that must not read as zeroes are written, so a cluster that read as zeroes
 * before (zero cluster, no backing data) costs just the new bytes. */
/* Bytes of a raw backing file into this image, in the kernel (one copy, not two). */
static int copy_range(struct qcow2 *q, uint64_t from, uint64_t to, uint64_t len)
{
	while (len) {
		loff_t i = (loff_t)from, o = (loff_t)to;
		ssize_t r = copy_file_range(q->backing->file.fd, &i, q->fd, &o, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		from += (uint64_t)r;
		to += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

/* Old bytes [from, from+len) of the raw backing file to `to` in this image: copy_file_range,
 * or where the kernel cannot (another file system, a sandbox without it) a read and a write. */
static int copy_old(struct qcow2 *q, uint64_t from, uint64_t to, uint64_t len)
{
	if (!q->no_copy_range) {
		int err = copy_range(q, from, to, len);
		if (err != -EXDEV && err != -EINVAL && err != -ENOSYS && err != -EOPNOTSUPP && err != -EPERM)
			return err;
		q->no_copy_range = true; /* from now on fill_cluster reads and writes */
	}
	struct iovec v = { q->buf, len };
	int64_t r = disk_sync(q->backing, RAW_READ, from, &v, 1);
	return r < 0 ? (int)r : qcow2_pwrite(q, q->buf, len, to);
}

/* fill_cluster's way for a raw backing file: the old bytes before and after the new ones are
 * copied file to file, the new ones written between. */
static int fill_from_raw(struct qcow2 *q, uint64_t cstart, uint64_t in, uint64_t len, uint64_t have,
			 const struct iovec *iov, unsigned n, uint64_t host)
{
	int err;
	if (in && (err = copy_old(q, cstart, host, MIN(in, have))) < 0)
		return err;
	int64_t r = raw_sync(q->f, RAW_WRITE, host + in, iov, n);
	if (r < 0)
		return (int)r;
	if (have > in + len && (err = copy_old(q, cstart + in + len, host + in + len, have - in - len)) < 0)
		return err;
	return 0;
}

static bool nonzero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return true;
	return false;
}

/* *kept: the bytes [0, *kept) of the new cluster hold old non-zero data (0: none). */
static int fill_cluster(struct qcow2 *q, const struct map *m, uint64_t cstart, uint64_t in, uint64_t len,
			const struct iovec *iov, unsigned n, uint64_t host, uint64_t *kept)
{
	uint64_t have = 0; /* the old content may be non-zero in [0, have) */
	*kept = 0;
	if (m->type == C_NORMAL || m->type == C_COMPRESSED)
		have = q->cs;
	else if (m->type == C_UNALLOC && q->backing && cstart < disk_size(q->backing))
		have = MIN(q->cs, disk_size(q->backing) - cstart);
	if (!have) {
		int64_t r = n ? raw_sync(q->f, RAW_WRITE, host + in, iov, n) : 0;
		return r < 0 ? (int)r : 0;
	}
	uint64_t tail = have > in + len ? have - in - len : 0; /* old bytes after the new ones */
	if (n && m->type == C_UNALLOC && !q->backing->qcow2 && !q->no_copy_range) {
		if (in || tail) /* copied file to file, unseen: taken as non-zero */
			*kept = tail ? have : in + len;
		return fill_from_raw(q, cstart, in, len, have, iov, n, host);
	}
	struct iovec old = { q->buf, have };
	int err = qcow2_read_piece(q, m, cstart, &old, 1, have);
	if (err < 0)
		return err;
	uint64_t head = MIN(in, have);
	if (nonzero(q->buf, head) || (tail && nonzero(q->buf + in + len, tail)))
		*kept = tail ? have : in + len;
	if (n)
		iov_copy(iov, n, q->buf + in, false);
	else if (in < have)
		memset(q->buf + in, 0, MIN(len, have - in));
	uint64_t wend = have > in + len ? have : n ? in + len : MIN(in, have);
	return wend ? qcow2_pwrite(q, q->buf, wend, host) : 0;
}

/* Write [voff, voff+len) of one cluster, mapped by m; n == 0: zeroes. In place if the
 * cluster is this image's alone; else into a new cluster holding the old content around the
 * new bytes. */
static int write_mapped(struct qcow2 *q, struct map *m, uint64_t voff, const struct iovec *iov, unsigned n,
			uint64_t len)
{
	uint64_t in = voff & (q->cs - 1), cstart = voff - in;
	int err;
	if (m->type == C_NORMAL && (m->entry & QCOW2_OFLAG_COPIED)) {
		if (!n) {
			memset(q->buf, 0, len);
			return qcow2_pwrite(q, q->buf, len, m->host + in);
		}
		int64_t r = raw_sync(q->f, RAW_WRITE, m->host + in, iov, n);
		return r < 0 ? (int)r : 0;
	}
	uint64_t host;
	if ((err = ensure_l2(q, voff, m)) < 0 || (err = qcow2_alloc_cluster(q, &host)) < 0)
		return err;
	uint64_t kept;
	if ((err = fill_cluster(q, m, cstart, in, len, iov, n, host, &kept)) < 0)
		return err;
	if (m->type != C_UNALLOC)
		q->stats.cows++;
	if (kept) { /* old data: its entry waits until a sync made the copy durable */
		return qcow2_hold(q, m, cstart, host, kept); /* the caller commits */
	}
	/* The data is written, the refcount was counted before: now point at it, then let go of
	 * what was there. */
	if ((err = qcow2_set_l2(q, m, host | QCOW2_OFLAG_COPIED)) < 0)
		return err;
	return qcow2_release(q, m);
}

static int write_piece(struct qcow2 *q, uint64_t voff, const struct iovec *iov, unsigned n, uint64_t len)
{
	struct map m;
	int err = qcow2_lookup(q, voff, &m);
	return err < 0 ? err : write_mapped(q, &m, voff, iov, n, len);
}

static bool in_place(const struct map *m)
{
	return m->type == C_NORMAL && (m->entry & QCOW2_OFLAG_COPIED);
}

/* Whole clusters from voff (at least one) that all need a new cluster, in one L2 table:
 * contiguous new clusters, one write of the data, one write of the L2 entries, then the old
 * clusters let go of: the same order as write_mapped, for many clusters at once. */
static int write_new_clusters(struct qcow2 *q, struct map *m0, uint64_t voff, const struct iovec *iov, unsigned n,
			      uint64_t skip, uint64_t *len, uint64_t avail)
{
	struct map ms[ALLOC_BATCH];
	unsigned c = 1;
	uint64_t span = q->cbits + q->l2_bits;
	ms[0] = *m0;
	while (c < ALLOC_BATCH && (c + 1) * q->cs <= avail && (voff + c * q->cs) >> span == voff >> span &&
	       qcow2_lookup(q, voff + c * q->cs, &ms[c]) == 0 && !in_place(&ms[c]))
		c++;
	uint64_t host;
	unsigned got;
	int err = ensure_l2(q, voff, &ms[0]);
	if (err < 0 || (err = qcow2_alloc_clusters(q, c, &host, &got)) < 0)
		return err;
	c = got;
	struct iovec part[IOV_MAX_PIECES];
	unsigned k = iov_sub(iov, n, skip, c * q->cs, part);
	int64_t r = raw_sync(q->f, RAW_WRITE, host, part, k);
	if (r < 0)
		return (int)r;
	uint64_t l2_off = ms[0].l2_off, first = ms[0].l2_index;
	uint8_t *l2 = qcow2_cache_get(&q->l2c, q->fd, l2_off, 0, &err);
	if (!l2)
		return err;
	for (unsigned i = 0; i < c; i++)
		qcow2_put_be64(l2 + 8 * (first + i), (host + i * q->cs) | QCOW2_OFLAG_COPIED);
	if ((err = qcow2_pwrite(q, l2 + 8 * first, 8 * c, l2_off + 8 * first)) < 0)
		return err;
	for (unsigned i = 0; i < c && err == 0; i++) {
		if (ms[i].type != C_UNALLOC)
			q->stats.cows++;
		err = qcow2_release(q, &ms[i]);
	}
	*len = c * q->cs;
	return err;
}

int qcow2_write_clusters(struct qcow2 *q, uint64_t voff, const struct iovec *iov, unsigned n, uint64_t skip,
			 uint64_t *len, uint64_t avail)
{
	struct map m;
	int err = qcow2_lookup(q, voff, &m);
	if (err < 0)
		return err;
	uint64_t in = voff & (q->cs - 1);
	struct iovec part[IOV_MAX_PIECES];
	if (in_place(&m)) {
		/* With the clusters after it that are in place too and follow it in the file. */
		uint64_t l = *len, expect = m.host + q->cs;
		struct map next;
		while (l < avail && qcow2_lookup(q, voff + l, &next) == 0 && in_place(&next) && next.host == expect) {
			l += MIN(avail - l, q->cs);
			expect += q->cs;
		}
		unsigned k = iov_sub(iov, n, skip, l, part);
		int64_t r = raw_sync(q->f, RAW_WRITE, m.host + in, part, k);
		if (r < 0)
			return (int)r;
		*len = l;
		return 0;
	}
	if (in || *len < q->cs) {
		unsigned k = iov_sub(iov, n, skip, *len, part);
		return write_mapped(q, &m, voff, part, k, *len);
	}
	return write_new_clusters(q, &m, voff, iov, n, skip, len, avail);
}

int qcow2_zero_locked(struct qcow2 *q, uint64_t off, uint64_t len, bool discard)
{
	if (q->read_only)
		return -EROFS;
	if (off > q->h.size || len > q->h.size - off)
		return -EINVAL;
	bool v3 = q->h.version >= 3;
	while (len) {
		uint64_t in = off & (q->cs - 1), piece = MIN(len, q->cs - in);
		int err = 0;
		struct map m;
		bool whole = piece == q->cs || (in == 0 && off + piece == q->h.size);
		if (!whole || (!v3 && q->backing)) {
			/* Part of a cluster (or no zero clusters in v2 over a backing file): a discard
			 * may do nothing, write-zeroes writes them. */
			if (!discard) {
				err = write_piece(q, off, NULL, 0, piece);
			}
		} else if ((err = qcow2_lookup(q, off, &m)) == 0) {
			uint64_t e = (q->backing && v3) || (v3 && !discard) ? QCOW2_OFLAG_ZERO : 0;
			bool same = m.type == (e ? C_ZERO : C_UNALLOC) && !(m.entry & QCOW2_OFFSET_MASK);
			if (!same && !(e == 0 && !m.l2_off) && (err = ensure_l2(q, off, &m)) == 0 &&
			    (err = qcow2_set_l2(q, &m, e)) == 0)
				err = qcow2_release(q, &m);
		}
		if (err < 0)
			return err;
		off += piece;
		len -= piece;
	}
	return 0;
}

