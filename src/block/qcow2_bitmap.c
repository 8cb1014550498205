/* qcow2's persistent bitmaps (qcow2_bitmap.h): petrel's backup bitmap read from an image
 * (every field checked: the image may come from anywhere) and written into one it has open.
 * Bits are stored as the spec says (bit n of the bitmap is bit n % 8 of byte n / 8), which on
 * x86's little-endian words is util/bitmap.h's layout byte for byte. */
#include "block/qcow2_bitmap.h"
#include "block/qcow2_int.h"
#include "util/bitmap.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the bitmap's words are stored as bytes: little-endian hosts only"
#endif

#define BM_MAX_PHYS (512ull << 20) /* QEMU's limit on a bitmap's data */
#define NAME_LEN (sizeof(BACKUP_BITMAP_NAME) - 1)

int qcow2_bm_fd_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	int fd = *(int *)ctx;
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (uint8_t *)buf + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += (size_t)n;
	}
	return 0;
}

static bool inside(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}

static uint64_t align8(uint64_t v)
{
	return (v + 7) & ~7ull;
}

/* One directory entry, as read. */
struct bm_entry {
	uint64_t table_off;
	uint32_t table_size, flags, extra;
	uint8_t type, gbits;
	uint16_t name_size;
	const uint8_t *name;
	uint64_t at, len;         /* its place and length in the directory */
};

/* Entry i at *at of a directory of size bytes: 0, or -EINVAL with err. */
static int dir_entry(const uint8_t *dir, uint64_t size, uint64_t *at, struct bm_entry *e, char *err, size_t errlen)
{
	if (!inside(*at, 24, size))
		return error_set(err, errlen, -EINVAL, "bitmap directory entry at %llu runs past its end",
				 (unsigned long long)*at);
	const uint8_t *p = dir + *at;
	e->table_off = qcow2_be64(p);
	e->table_size = qcow2_be32(p + 8);
	e->flags = qcow2_be32(p + 12);
	e->type = p[16];
	e->gbits = p[17];
	e->name_size = (uint16_t)(p[18] << 8 | p[19]);
	e->extra = qcow2_be32(p + 20);
	e->at = *at;
	e->len = align8(24ull + e->extra + e->name_size);
	if (!e->name_size || e->name_size > QCOW2_BME_MAX_NAME || !inside(*at, e->len, size))
		return error_set(err, errlen, -EINVAL, "bitmap directory entry at %llu: name of %u bytes, %u of extra data",
				 (unsigned long long)*at, e->name_size, e->extra);
	e->name = p + 24 + e->extra;
	*at += e->len;
	return 0;
}

static bool ours(const struct bm_entry *e)
{
	return e->name_size >= NAME_LEN && !memcmp(e->name, BACKUP_BITMAP_NAME, NAME_LEN) &&
	       (e->name_size == NAME_LEN || e->name[NAME_LEN] == ':');
}

/* The bitmaps extension of the header in h (hlen bytes): 0 and its fields, -ENOENT, or
 * -EINVAL with err. */
static int find_ext(const uint8_t *h, size_t hlen, const struct qcow2_header *hd, uint64_t *nb, uint64_t *dir_size,
		    uint64_t *dir_off, char *err, size_t errlen)
{
	for (size_t at = hd->header_length; inside(at, 8, hlen);) {
		uint32_t type = qcow2_be32(h + at), len = qcow2_be32(h + at + 4);
		at += 8;
		if (type == 0 || !inside(at, len, hlen))
			break;
		if (type == QCOW2_EXT_BITMAPS) {
			if (len < 24)
				return error_set(err, errlen, -EINVAL, "bitmaps extension of %u bytes", len);
			*nb = qcow2_be32(h + at);
			*dir_size = qcow2_be64(h + at + 8);
			*dir_off = qcow2_be64(h + at + 16);
			if (qcow2_be32(h + at + 4) || *nb == 0 || *nb > QCOW2_BM_MAX_BITMAPS || *dir_size > QCOW2_BM_MAX_DIR ||
			    *dir_size < 24 * *nb || *dir_off % (1ull << hd->cluster_bits))
				return error_set(err, errlen, -EINVAL,
						 "bitmaps extension: %llu bitmaps, directory of %llu bytes at %llu",
						 (unsigned long long)*nb, (unsigned long long)*dir_size,
						 (unsigned long long)*dir_off);
			return 0;
		}
		at += align8(len);
	}
	return -ENOENT;
}

/* The image's header cluster: 0 with *buf (malloc'd, *len bytes) and the parsed header. */
static int read_header(const struct qcow2_bm_src *src, uint8_t **buf, size_t *len, struct qcow2_header *h,
		       char *err, size_t errlen)
{
	uint8_t first[QCOW2_V3_HEADER_LEN];
	if (src->file_size < sizeof(first) || src->read(src->ctx, first, sizeof(first), 0) < 0)
		return error_set(err, errlen, -EINVAL, "cannot read the image's header");
	uint32_t cbits = qcow2_be32(first + 20);
	if (cbits < QCOW2_MIN_CLUSTER_BITS || cbits > QCOW2_MAX_CLUSTER_BITS)
		return error_set(err, errlen, -EINVAL, "cluster_bits %u is out of range", cbits);
	*len = (size_t)MIN(1ull << cbits, src->file_size);
	if (!(*buf = malloc(*len)))
		return error_oom(err, errlen);
	int e = src->read(src->ctx, *buf, *len, 0);
	if (e < 0)
		return error_set(err, errlen, -EINVAL, "cannot read the image's header: %s", strerror(-e));
	return qcow2_header_parse(*buf, *len, src->file_size, h, err, errlen);
}

/* Checks of petrel's entry e against the disk; reads its bits into out->bits. */
static int read_bits(const struct qcow2_bm_src *src, const struct bm_entry *e, uint64_t cs,
		     struct backup_bitmap *out, char *err, size_t errlen)
{
	if (e->type != QCOW2_BME_TYPE_DIRTY || e->gbits != BACKUP_BITMAP_GRAN_BITS || e->flags & ~7u ||
	    (e->extra && !(e->flags & 4)))
		return error_set(err, errlen, -EINVAL, "type %u, granularity bits %u, flags 0x%x: not petrel's bitmap",
				 e->type, e->gbits, e->flags);
	uint64_t bytes = (out->nbits + 7) / 8, ntab = (bytes + cs - 1) / cs;
	if (bytes > BM_MAX_PHYS)
		return error_set(err, errlen, -EINVAL, "a bitmap of %llu bytes is too large", (unsigned long long)bytes);
	if (e->table_size != ntab || e->table_off % cs || !inside(e->table_off, ntab * 8, src->file_size))
		return error_set(err, errlen, -EINVAL, "bitmap table of %u entries at %llu (the disk needs %llu)",
				 e->table_size, (unsigned long long)e->table_off, (unsigned long long)ntab);
	_cleanup_free_ uint8_t *tab = malloc(ntab * 8 + 1);
	if (!tab || !(out->bits = calloc(BITMAP_WORDS(out->nbits) + 1, 8)))
		return error_oom(err, errlen);
	if (src->read(src->ctx, tab, ntab * 8, e->table_off) < 0)
		return error_set(err, errlen, -EINVAL, "cannot read the bitmap table");
	uint8_t *dst = (uint8_t *)out->bits;
	for (uint64_t i = 0; i < ntab; i++) {
		uint64_t te = qcow2_be64(tab + i * 8), off = te & QCOW2_OFFSET_MASK, piece = MIN(cs, bytes - i * cs);
		if (te & QCOW2_BMT_RESERVED || (off && te & 1) || off % cs)
			return error_set(err, errlen, -EINVAL, "bitmap table entry %llu is 0x%llx", (unsigned long long)i,
					 (unsigned long long)te);
		if (!off)
			memset(dst + i * cs, te & 1 ? 0xff : 0, piece);
		else if (!inside(off, piece, src->file_size) || src->read(src->ctx, dst + i * cs, piece, off) < 0)
			return error_set(err, errlen, -EINVAL, "bitmap data at %llu is past the end of the file",
					 (unsigned long long)off);
	}
	/* tail bits of the last byte must be zero; so are those of the last word, for the tracker */
	if (out->nbits % 8 && dst[bytes - 1] >> (out->nbits % 8))
		return error_set(err, errlen, -EINVAL, "bits set past the end of the disk");
	return 0;
}

int qcow2_bitmap_read(const struct qcow2_bm_src *src, uint64_t disk_size, struct backup_bitmap *out,
		      uint64_t *flags_off)
{
	memset(out, 0, sizeof(*out));
	out->disk_size = disk_size;
	out->nbits = backup_bitmap_nbits(disk_size);
	*flags_off = 0;
	char err[200];
	_cleanup_free_ uint8_t *h = NULL, *dir = NULL;
	size_t hlen = 0;
	struct qcow2_header hd;
	uint64_t nb = 0, dsize = 0, doff = 0;
	int e = read_header(src, &h, &hlen, &hd, err, sizeof(err));
	if (e == -ENOMEM)
		return e;
	if (e < 0) {
		backup_bitmap_set_stale(out, "the image's header is refused: %s", err);
		return 0;
	}
	if (hd.size != disk_size) {
		backup_bitmap_set_stale(out, "the image is %llu bytes, the disk %llu", (unsigned long long)hd.size,
					(unsigned long long)disk_size);
		return 0;
	}
	e = find_ext(h, hlen, &hd, &nb, &dsize, &doff, err, sizeof(err));
	if (e == -ENOENT) {
		backup_bitmap_set_stale(out, "no bitmap yet (the image has no bitmaps extension)");
		return 0;
	}
	if (e < 0 || !(hd.autoclear & QCOW2_AUTOCLEAR_BITMAPS)) {
		backup_bitmap_set_stale(out, "the image's bitmaps are refused: %s", e < 0 ? err :
					"marked inconsistent (autoclear bit 0 clear: a program that does not keep "
					"bitmaps wrote the image)");
		return 0;
	}
	if (!inside(doff, dsize, src->file_size) || !(dir = malloc(dsize)) || src->read(src->ctx, dir, dsize, doff) < 0) {
		if (dsize && !dir && inside(doff, dsize, src->file_size))
			return -ENOMEM;
		backup_bitmap_set_stale(out, "the bitmap directory (%llu bytes at %llu) is past the end of the file",
					(unsigned long long)dsize, (unsigned long long)doff);
		return 0;
	}
	struct bm_entry mine = { 0 }, ent;
	bool found = false;
	uint64_t at = 0;
	for (uint64_t i = 0; i < nb; i++) {
		if ((e = dir_entry(dir, dsize, &at, &ent, err, sizeof(err))) < 0) {
			backup_bitmap_set_stale(out, "the bitmap directory is refused: %s", err);
			return 0;
		}
		if (!found && ours(&ent)) {
			mine = ent;
			found = true;
		}
	}
	if (at != dsize) {
		backup_bitmap_set_stale(out, "the bitmap directory is %llu bytes, its entries %llu",
					(unsigned long long)dsize, (unsigned long long)at);
		return 0;
	}
	if (!found) {
		backup_bitmap_set_stale(out, "no bitmap yet (none named %s in the image)", BACKUP_BITMAP_NAME);
		return 0;
	}
	size_t idlen = mine.name_size > NAME_LEN ? mine.name_size - NAME_LEN - 1 : 0;
	if (idlen > BACKUP_CHAIN_ID_MAX || memchr(mine.name + NAME_LEN, 0, mine.name_size - NAME_LEN)) {
		backup_bitmap_set_stale(out, "the bitmap's chain id is refused (%zu bytes)", idlen);
		return 0;
	}
	if ((e = read_bits(src, &mine, 1ull << hd.cluster_bits, out, err, sizeof(err))) < 0) {
		if (e == -ENOMEM)
			return e;
		backup_bitmap_set_stale(out, "the bitmap %.*s is refused: %s", (int)MIN(mine.name_size, 64),
					(const char *)mine.name, err);
		return 0;
	}
	memcpy(out->chain_id, mine.name + MIN(mine.name_size, NAME_LEN + 1), idlen);
	out->chain_id[idlen] = 0;
	out->in_use = mine.flags & QCOW2_BME_IN_USE;
	*flags_off = doff + mine.at + 12;
	return 0;
}

/* ---- writing into an open image (the caller is its only writer: a clean close) ---- */

/* n clusters one after the other, zeroed and written from buf (len bytes): *off. */
static int put_run(struct qcow2 *q, const void *buf, uint64_t len, uint64_t *off)
{
	unsigned want = (unsigned)((len + q->cs - 1) / q->cs), got;
	int e = qcow2_alloc_clusters(q, want, off, &got);
	if (e < 0)
		return e;
	if (got < want)
		return -ENOSPC; /* the run is leaked: never named, harmless */
	_cleanup_free_ uint8_t *pad = calloc(want, q->cs);
	if (!pad)
		return -ENOMEM;
	memcpy(pad, buf, len);
	return qcow2_pwrite(q, pad, (size_t)want * q->cs, *off);
}

/* Clusters of the image's bitmaps as found before petrel writes its own: let go of once the
 * header names the new ones. Collected before anything is allocated, so that nothing named
 * past the end of the file then (a corrupt directory) can be a cluster handed out since. */
struct runs {
	struct { uint64_t off, len; } *r;
	size_t n, cap;
};

static void runs_free(struct runs *s)
{
	free(s->r);
}

static void runs_add(struct runs *s, uint64_t off, uint64_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		void *r = realloc(s->r, cap * sizeof(*s->r));
		if (!r)
			return; /* leaked: harmless */
		s->r = r;
		s->cap = cap;
	}
	s->r[s->n].off = off;
	s->r[s->n++].len = len;
}

static void collect_old(struct qcow2 *q, struct runs *s)
{
	size_t hlen = (size_t)MIN(q->cs, q->file_size);
	_cleanup_free_ uint8_t *h = malloc(hlen), *dir = NULL;
	struct qcow2_header hd;
	char err[160];
	uint64_t nb, size, doff;
	if (!h || qcow2_bm_fd_read(&q->fd, h, hlen, 0) < 0 || qcow2_header_parse(h, hlen, q->file_size, &hd, err, sizeof(err)) < 0 ||
	    find_ext(h, hlen, &hd, &nb, &size, &doff, err, sizeof(err)) < 0 || !inside(doff, size, q->file_size) ||
	    !(dir = malloc(size)) || qcow2_bm_fd_read(&q->fd, dir, size, doff) < 0)
		return;
	uint64_t at = 0;
	struct bm_entry e;
	for (uint64_t i = 0; i < nb && dir_entry(dir, size, &at, &e, err, sizeof(err)) == 0; i++) {
		if (e.table_off % q->cs || !inside(e.table_off, (uint64_t)e.table_size * 8, q->file_size))
			continue;
		_cleanup_free_ uint8_t *tab = malloc((size_t)e.table_size * 8 + 1);
		if (!tab || qcow2_bm_fd_read(&q->fd, tab, (size_t)e.table_size * 8, e.table_off) < 0)
			continue;
		for (uint64_t j = 0; j < e.table_size; j++) {
			uint64_t off = qcow2_be64(tab + j * 8) & QCOW2_OFFSET_MASK;
			if (off && off % q->cs == 0 && inside(off, q->cs, q->file_size))
				runs_add(s, off, q->cs);
		}
		runs_add(s, e.table_off, (uint64_t)e.table_size * 8);
	}
	runs_add(s, doff, size);
}

/* Let go of the old runs but for any cluster of the new bitmap (in use: refcount 1 too). */
static void free_old(struct qcow2 *q, const struct runs *old, const struct runs *now)
{
	for (size_t i = 0; i < old->n; i++) {
		bool mine = false;
		for (size_t j = 0; !mine && j < now->n; j++)
			mine = old->r[i].off < now->r[j].off + now->r[j].len && now->r[j].off < old->r[i].off + old->r[i].len;
		if (!mine && old->r[i].len)
			qcow2_unref(q, old->r[i].off, old->r[i].len);
	}
}

/* The header cluster with the bitmaps extension set to (dsize, doff) and autoclear bit 0. */
static int put_header(struct qcow2 *q, uint64_t dsize, uint64_t doff, char *err, size_t errlen)
{
	size_t hlen = (size_t)MIN(q->cs, q->file_size);
	_cleanup_free_ uint8_t *h = malloc(hlen), *nh = calloc(1, hlen);
	struct qcow2_header hd;
	if (!h || !nh)
		return error_oom(err, errlen);
	int e = qcow2_bm_fd_read(&q->fd, h, hlen, 0);
	if (e < 0)
		return error_set(err, errlen, e, "cannot read the header: %s", strerror(-e));
	if ((e = qcow2_header_parse(h, hlen, q->file_size, &hd, err, errlen)) < 0)
		return e;
	memcpy(nh, h, hd.header_length);
	size_t at = hd.header_length, out = hd.header_length, used = at;
	while (inside(at, 8, hlen)) { /* every other extension as it was */
		uint32_t type = qcow2_be32(h + at), len = qcow2_be32(h + at + 4);
		if (type == 0 || !inside(at + 8, align8(len), hlen))
			break;
		if (type != QCOW2_EXT_BITMAPS) {
			memcpy(nh + out, h + at, 8 + align8(len));
			out += 8 + align8(len);
		}
		at += 8 + align8(len);
	}
	size_t blen = strlen(hd.backing_file);
	used = MAX(at + 8, blen ? (size_t)qcow2_be64(h + 8) + blen : 0); /* what the old header used */
	if (out + 8 + 24 + 8 + blen > hlen)
		return error_set(err, errlen, -ENOSPC, "no room for the bitmaps extension in the header cluster");
	qcow2_put_be32(nh + out, QCOW2_EXT_BITMAPS);
	qcow2_put_be32(nh + out + 4, 24);
	qcow2_put_be32(nh + out + 8, 1);
	qcow2_put_be64(nh + out + 16, dsize);
	qcow2_put_be64(nh + out + 24, doff);
	out += 32 + 8; /* and the end of the extensions (zeroes) */
	if (blen) {
		memcpy(nh + out, hd.backing_file, blen);
		qcow2_put_be64(nh + 8, out);
		out += blen;
	}
	qcow2_put_be64(nh + QCOW2_OFF_AUTOCLEAR, hd.autoclear | QCOW2_AUTOCLEAR_BITMAPS);
	if ((e = qcow2_pwrite(q, nh, MAX(out, used), 0)) < 0 || (fdatasync(q->fd) < 0 && (e = -errno)))
		return error_set(err, errlen, e, "cannot write the header: %s", strerror(-e));
	q->h.autoclear = hd.autoclear | QCOW2_AUTOCLEAR_BITMAPS;
	return 0;
}

static int store_locked(struct qcow2 *q, const char *chain_id, const uint64_t *bits, uint64_t nbits, char *err,
			size_t errlen)
{
	int e = qcow2_commit_locked(q);
	if (e < 0)
		return error_set(err, errlen, e, "cannot commit the image's writes: %s", strerror(-e));
	uint64_t bytes = (nbits + 7) / 8, ntab = (bytes + q->cs - 1) / q->cs;
	_cleanup_free_ uint8_t *tab = calloc(ntab + 1, 8), *ent = NULL;
	if (!tab)
		return error_oom(err, errlen);
	_cleanup_(runs_free) struct runs old = { 0 }, now = { 0 };
	collect_old(q, &old);
	const uint8_t *src = (const uint8_t *)bits;
	for (uint64_t i = 0; i < ntab; i++) {
		uint64_t piece = MIN(q->cs, bytes - i * q->cs), off;
		bool zero = true;
		for (uint64_t k = 0; zero && k < piece; k++)
			zero = !src[i * q->cs + k];
		if (zero)
			continue; /* entry 0: the cluster reads as zeroes */
		if ((e = put_run(q, src + i * q->cs, piece, &off)) < 0)
			return error_set(err, errlen, e, "cannot write the bitmap's data: %s", strerror(-e));
		qcow2_put_be64(tab + i * 8, off);
		runs_add(&now, off, q->cs);
	}
	size_t idlen = chain_id ? strlen(chain_id) : 0;
	size_t nlen = NAME_LEN + (idlen ? 1 + idlen : 0), elen = (size_t)align8(24 + nlen);
	if (!(ent = calloc(1, elen)))
		return error_oom(err, errlen);
	uint64_t toff, doff;
	if ((e = put_run(q, tab, ntab * 8, &toff)) < 0)
		return error_set(err, errlen, e, "cannot write the bitmap table: %s", strerror(-e));
	runs_add(&now, toff, ntab * 8);
	qcow2_put_be64(ent, toff);
	qcow2_put_be32(ent + 8, (uint32_t)ntab);
	qcow2_put_be32(ent + 12, QCOW2_BME_AUTO);
	ent[16] = QCOW2_BME_TYPE_DIRTY;
	ent[17] = BACKUP_BITMAP_GRAN_BITS;
	ent[18] = (uint8_t)(nlen >> 8);
	ent[19] = (uint8_t)nlen;
	memcpy(ent + 24, BACKUP_BITMAP_NAME, NAME_LEN);
	if (idlen) {
		ent[24 + NAME_LEN] = ':';
		memcpy(ent + 25 + NAME_LEN, chain_id, idlen);
	}
	if ((e = put_run(q, ent, elen, &doff)) < 0)
		return error_set(err, errlen, e, "cannot write the bitmap directory: %s", strerror(-e));
	runs_add(&now, doff, elen);
	/* the new clusters and their refcounts durable before the header names them */
	if (fdatasync(q->fd) < 0)
		return error_set(err, errlen, -errno, "cannot sync the image: %s", strerror(errno));
	qcow2_reserve_synced(q);
	if ((e = put_header(q, elen, doff, err, errlen)) < 0)
		return e;
	free_old(q, &old, &now);
	return 0;
}

int qcow2_bitmap_store(struct qcow2 *q, const char *chain_id, const uint64_t *bits, uint64_t nbits, char *err,
		       size_t errlen)
{
	if (q->read_only || q->h.version < 3)
		return error_set(err, errlen, -ENOTSUP, "a qcow2 v%u image%s cannot keep bitmaps", q->h.version,
				 q->read_only ? " opened read-only" : "");
	if (chain_id && strlen(chain_id) > BACKUP_CHAIN_ID_MAX)
		return error_set(err, errlen, -EINVAL, "chain id longer than %d bytes", BACKUP_CHAIN_ID_MAX);
	pthread_mutex_lock(&q->lock);
	int e = store_locked(q, chain_id, bits, nbits, err, errlen);
	pthread_mutex_unlock(&q->lock);
	return e;
}
