/* qcow2 refcounts: reading and setting them, refcount blocks and a growing refcount table.
 * Refcount blocks and a grown refcount table are written (and synced) before anything points
 * at them; a cluster's count drops only after nothing points at it. Cluster allocation, in
 * reserved runs, is qcow2_reserve.c. */
#include "block/qcow2_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t r = pwrite(q->fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

static uint64_t rc_read(const uint8_t *blk, uint64_t i, unsigned bits)
{
	switch (bits) {
	case 8: return blk[i];
	case 16: return (uint64_t)blk[2 * i] << 8 | blk[2 * i + 1];
	case 32: return qcow2_be32(blk + 4 * i);
	case 64: return qcow2_be64(blk + 8 * i);
	default: /* 1, 2, 4 bits: packed from the low bits of each byte */
		return (uint64_t)(blk[i * bits / 8] >> (i * bits % 8)) & ((1u << bits) - 1);
	}
}

/* Set entry i; returns the byte range [*at, *at + *len) of blk that changed. */
static void rc_write(uint8_t *blk, uint64_t i, unsigned bits, uint64_t v, uint64_t *at, size_t *len)
{
	switch (bits) {
	case 8: blk[i] = (uint8_t)v; break;
	case 16: blk[2 * i] = (uint8_t)(v >> 8); blk[2 * i + 1] = (uint8_t)v; break;
	case 32: qcow2_put_be32(blk + 4 * i, (uint32_t)v); break;
	case 64: qcow2_put_be64(blk + 8 * i, v); break;
	default: {
		uint8_t *b = &blk[i * bits / 8];
		unsigned shift = i * bits % 8, mask = ((1u << bits) - 1) << shift;
		*b = (uint8_t)((*b & ~mask) | ((unsigned)v << shift & mask));
		*at = i * bits / 8;
		*len = 1;
		return;
	}
	}
	*at = i * bits / 8;
	*len = bits / 8;
}

int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *out)
{
	uint64_t ri = cluster / q->rb_entries;
	*out = 0;
	if (ri >= q->rt_entries || !q->rt[ri])
		return 0;
	int err = 0;
	uint8_t *blk = qcow2_cache_get(&q->rbc, q->fd, q->rt[ri], 0, &err);
	if (!blk)
		return err;
	*out = rc_read(blk, cluster % q->rb_entries, q->rc_bits);
	return 0;
}

int qcow2_extend(struct qcow2 *q, uint64_t end)
{
	if (end <= q->file_size)
		return 0;
	if (ftruncate(q->fd, (off_t)end) < 0)
		return -errno;
	q->file_size = q->f->size = end;
	return 0;
}

/* The next cluster past the used area (not yet counted). */
static int take_end(struct qcow2 *q, uint64_t *off)
{
	*off = q->end;
	q->end += q->cs;
	return qcow2_extend(q, q->end);
}

static int grow_reftable(struct qcow2 *q, uint64_t need);

/* A new refcount block for refcount table entry ri, at the end; counted before the table
 * points at it. */
static int alloc_refblock(struct qcow2 *q, uint64_t ri)
{
	uint64_t off;
	int err = take_end(q, &off);
	if (err < 0)
		return err;
	uint64_t self = off >> q->cbits;
	uint8_t *blk = qcow2_cache_get(&q->rbc, q->fd, off, 1, &err);
	if (!blk)
		return err;
	uint64_t at;
	size_t len;
	if (self / q->rb_entries == ri)
		rc_write(blk, self % q->rb_entries, q->rc_bits, 1, &at, &len);
	if ((err = qcow2_pwrite(q, blk, q->cs, off)) < 0)
		return err;
	if (self / q->rb_entries != ri && (err = qcow2_refcount_set(q, self, 1)) < 0)
		return err;
	q->rt[ri] = off;
	if (q->rt_pending)
		return 0; /* the new table is synced before the header names it */
	/* The block (and its own count) on disk before the table entry naming it, and the entry
	 * before any cluster it counts is used: the runs' ranged syncs cover refcount blocks,
	 * not the table. Rare (one block counts thousands of clusters): two syncs here cost
	 * nothing that matters. */
	if (fdatasync(q->fd) < 0)
		return -errno;
	uint8_t be[8];
	qcow2_put_be64(be, off);
	if ((err = qcow2_pwrite(q, be, 8, q->rt_off + 8 * ri)) < 0)
		return err;
	return fdatasync(q->fd) < 0 ? -errno : 0;
}

int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t v)
{
	if (v > q->rc_max)
		return -EOVERFLOW;
	uint64_t ri = cluster / q->rb_entries;
	int err = 0;
	if (ri >= q->rt_entries) {
		if (q->rt_pending)
			return -EFBIG;
		if ((err = grow_reftable(q, ri + 1)) < 0)
			return err;
	}
	if (!q->rt[ri] && (err = alloc_refblock(q, ri)) < 0)
		return err;
	uint8_t *blk = qcow2_cache_get(&q->rbc, q->fd, q->rt[ri], 0, &err);
	if (!blk)
		return err;
	uint64_t at;
	size_t len;
	rc_write(blk, cluster % q->rb_entries, q->rc_bits, v, &at, &len);
	q->rc_lo = MIN(q->rc_lo, q->rt[ri] + at);
	q->rc_hi = MAX(q->rc_hi, q->rt[ri] + at + len);
	return qcow2_pwrite(q, blk + at, len, q->rt[ri] + at);
}

/* A bigger refcount table at the end: its clusters (and any refcount blocks they need) are
 * counted, it is written and synced, the header is switched to it and synced, and only then
 * is the old table freed. */
static int grow_reftable(struct qcow2 *q, uint64_t need)
{
	uint64_t per_cluster = q->cs / 8, entries = MAX(need, q->rt_entries * 2), nclu;
	for (;;) {
		entries = ALIGN_UP(entries, per_cluster);
		nclu = entries / per_cluster;
		/* It must also cover itself and the blocks that count it. */
		uint64_t last = ((q->end >> q->cbits) + nclu + 64) / q->rb_entries;
		if (entries > last)
			break;
		entries = last + 1;
	}
	if (entries * 8 > QCOW2_MAX_REFTABLE_BYTES) {
		log_error("qcow2 %s: the refcount table would exceed %u MiB", q->f->path, QCOW2_MAX_REFTABLE_BYTES >> 20);
		return -ENOSPC;
	}
	uint64_t *nt = calloc(entries, 8);
	uint8_t *be = calloc(entries, 8);
	if (!nt || !be) {
		free(nt);
		free(be);
		return -ENOMEM;
	}
	memcpy(nt, q->rt, q->rt_entries * 8);
	uint64_t *old = q->rt, old_entries = q->rt_entries, old_off = q->rt_off;
	uint32_t old_clusters = q->h.refcount_table_clusters;
	uint64_t off = q->end;
	int err = 0;
	q->end += nclu * q->cs;
	q->rt = nt;
	q->rt_entries = entries;
	q->rt_pending = true;
	if ((err = qcow2_extend(q, q->end)) == 0)
		for (uint64_t c = 0; c < nclu && err == 0; c++)
			err = qcow2_refcount_set(q, (off >> q->cbits) + c, 1);
	q->rt_pending = false;
	for (uint64_t i = 0; i < entries; i++)
		qcow2_put_be64(be + 8 * i, nt[i]);
	uint8_t hdr[12];
	qcow2_put_be64(hdr, off);
	qcow2_put_be32(hdr + 8, (uint32_t)nclu);
	if (err == 0 && (err = qcow2_pwrite(q, be, entries * 8, off)) == 0 && fdatasync(q->fd) == 0 &&
	    (err = qcow2_pwrite(q, hdr, sizeof(hdr), QCOW2_OFF_REFTABLE)) == 0 && fdatasync(q->fd) < 0)
		err = -errno;
	free(be);
	if (err < 0) {
		q->rt = old;
		q->rt_entries = old_entries;
		free(nt);
		return err; /* the clusters taken are leaked, nothing else changed */
	}
	q->rt_off = off;
	q->h.refcount_table_offset = off;
	q->h.refcount_table_clusters = (uint32_t)nclu;
	free(old);
	return qcow2_unref(q, old_off, (uint64_t)old_clusters * q->cs);
}

static bool overlaps(uint64_t a, uint64_t a_len, uint64_t b, uint64_t b_len)
{
	return a < b + b_len && b < a + a_len;
}

/* Does host cluster c hold the image's own metadata: the header, the L1 or refcount table, a
 * refcount block, an L2 table? A hostile image can name one as data (a compressed entry may
 * point anywhere in the file), and letting it go would punch a hole in the metadata and hand
 * the cluster out again. Scans the two tables: only when a cluster's last reference goes. */
static bool is_metadata(const struct qcow2 *q, uint64_t c)
{
	uint64_t off = c << q->cbits;
	if (c == 0 || overlaps(off, q->cs, q->h.l1_table_offset, (uint64_t)q->h.l1_size * 8) ||
	    overlaps(off, q->cs, q->rt_off, q->rt_entries * 8))
		return true;
	uint64_t mask = ~(q->cs - 1);
	for (uint64_t i = 0; i < q->rt_entries; i++)
		if (q->rt[i] && (q->rt[i] & mask) == off)
			return true;
	for (uint64_t i = 0; i < q->h.l1_size; i++) {
		uint64_t l2 = q->l1[i] & QCOW2_OFFSET_MASK;
		if (l2 && (l2 & mask) == off)
			return true;
	}
	return false;
}

int qcow2_unref(struct qcow2 *q, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	for (uint64_t c = off >> q->cbits; c <= (off + len - 1) >> q->cbits; c++) {
		uint64_t rc;
		int err = qcow2_refcount_get(q, c, &rc);
		if (err < 0)
			return err;
		if (rc == 1 && is_metadata(q, c)) {
			log_limited(LOG_ERROR, "qcow2 %s: data named at %llu is the image's own metadata (corrupt "
				    "image): kept", q->f->path, (unsigned long long)(c << q->cbits));
			continue;
		}
		if (rc == 0) {
			log_error("qcow2 %s: cluster at %llu is in use but its refcount is 0 (corrupt image)",
				  q->f->path, (unsigned long long)(c << q->cbits));
			return -EIO;
		}
		if ((err = qcow2_refcount_set(q, c, rc - 1)) < 0)
			return err;
		if (rc == 1) {
			qcow2_cache_drop(&q->l2c, c << q->cbits);
			qcow2_cache_drop(&q->rbc, c << q->cbits);
			raw_discard(q->f, c << q->cbits, q->cs);
		}
	}
	return 0;
}

/* Frees waiting for a sync: beyond this many, one is done on the spot. */
#define MAX_FREES 4096

int qcow2_unref_later(struct qcow2 *q, uint64_t off, uint64_t len)
{
	if (q->nfrees && q->frees[q->nfrees - 1].off + q->frees[q->nfrees - 1].len == off &&
	    !(off & (q->cs - 1)) && !(len & (q->cs - 1))) {
		q->frees[q->nfrees - 1].len += len; /* whole clusters after the last: one range */
		return 0;
	}
	if (q->nfrees == q->frees_cap) {
		if (q->frees_cap >= MAX_FREES) {
			if (fdatasync(q->fd) < 0)
				return -errno;
			int err = qcow2_apply_frees(q);
			if (err < 0)
				return err;
		} else {
			size_t cap = q->frees_cap ? q->frees_cap * 2 : 64;
			void *p = realloc(q->frees, cap * sizeof(*q->frees));
			if (!p)
				return -ENOMEM;
			q->frees = p;
			q->frees_cap = cap;
		}
	}
	q->frees[q->nfrees].off = off;
	q->frees[q->nfrees++].len = len;
	return 0;
}

int qcow2_apply_frees(struct qcow2 *q)
{
	int err = 0;
	for (size_t i = 0; i < q->nfrees && err == 0; i++)
		err = qcow2_unref(q, q->frees[i].off, q->frees[i].len);
	q->nfrees = 0; /* on an error, the rest leak */
	return err;
}

int qcow2_refcount_set_run(struct qcow2 *q, uint64_t first, uint64_t n, uint64_t v)
{
	if (v > q->rc_max)
		return -EOVERFLOW;
	while (n) {
		uint64_t ri = first / q->rb_entries, i0 = first % q->rb_entries, k = MIN(n, q->rb_entries - i0);
		/* The first one through qcow2_refcount_set: it makes the block (and grows the table)
		 * if need be; the rest of this block's share in one write. */
		int err = qcow2_refcount_set(q, first, v);
		if (err < 0)
			return err;
		if (k > 1) {
			uint8_t *blk = qcow2_cache_get(&q->rbc, q->fd, q->rt[ri], 0, &err);
			if (!blk)
				return err;
			uint64_t at, lo = UINT64_MAX, hi = 0;
			size_t len;
			for (uint64_t i = i0 + 1; i < i0 + k; i++) {
				rc_write(blk, i, q->rc_bits, v, &at, &len);
				lo = MIN(lo, at);
				hi = MAX(hi, at + len);
			}
			q->rc_lo = MIN(q->rc_lo, q->rt[ri] + lo);
			q->rc_hi = MAX(q->rc_hi, q->rt[ri] + hi);
			if ((err = qcow2_pwrite(q, blk + lo, hi - lo, q->rt[ri] + lo)) < 0)
				return err;
		}
		first += k;
		n -= k;
	}
	return 0;
}

int qcow2_find_end(struct qcow2 *q)
{
	uint64_t end = ALIGN_UP(q->file_size, q->cs);
	for (uint64_t ri = 0; ri < q->rt_entries; ri++) {
		if (!q->rt[ri])
			continue;
		int err = 0;
		uint8_t *blk = qcow2_cache_get(&q->rbc, q->fd, q->rt[ri], 0, &err);
		if (!blk)
			return err;
		for (uint64_t i = q->rb_entries; i-- > 0;)
			if (rc_read(blk, i, q->rc_bits)) {
				end = MAX(end, (ri * q->rb_entries + i + 1) << q->cbits);
				break;
			}
	}
	q->end = end;
	return 0;
}
