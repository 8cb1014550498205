/* A qcow2 image written front to back in one pass (qcow2.h): what clusters it will hold is
 * known before the first byte, so every table's place is too, and the file goes out in order,
 * each byte once, through a sink that sees it as it is written (a backup member's SHA-256 is
 * computed on the way, not by reading the member again).
 *
 * Layout (64 KiB clusters, 16-bit refcounts): cluster 0 the header (qcow2_layout.h); the
 * refcount table; the refcount blocks, every cluster of the file counted once; the L1 table;
 * one L2 table for each L1 entry that maps anything, in L1 order; the data clusters in guest
 * order. qemu-img reads it like any image it made (`qemu-img check` finds no leak). */
#include "block/qcow2.h"
#include "block/qcow2_layout.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CS (1ull << QCOW2_NEW_CBITS)
#define L2_ENTRIES (CS / 8)
#define RB_ENTRIES (CS * 8 >> QCOW2_NEW_REFCOUNT_ORDER)

struct out {
	const char *path;
	int fd;
	uint64_t at;
	const struct qcow2_stream_opts *o;
	uint8_t *buf;                 /* one cluster */
};

static bool marked(const struct qcow2_stream_opts *o, uint64_t c)
{
	return c < o->nclusters && (o->clusters[c / 64] >> (c % 64) & 1);
}

/* Whether L2 table j maps a cluster; with n: how many it maps. */
static uint64_t l2_count(const struct qcow2_stream_opts *o, uint64_t j)
{
	uint64_t n = 0, end = MIN((j + 1) * L2_ENTRIES, o->nclusters);
	for (uint64_t c = j * L2_ENTRIES; c < end; c += 64) {
		uint64_t w = o->clusters[c / 64];
		n += (uint64_t)__builtin_popcountll(end - c < 64 ? w & ((1ull << (end - c)) - 1) : w);
	}
	return n;
}

/* The cluster in s->buf out, and to the sink. */
static int emit(struct out *s, char *err, size_t errlen)
{
	for (size_t done = 0; done < CS;) {
		ssize_t n = write(s->fd, s->buf + done, CS - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return error_set(err, errlen, n < 0 ? -errno : -EIO, "writing %s at %llu: %s", s->path,
					 (unsigned long long)(s->at + done), strerror(n < 0 ? errno : EIO));
		done += (size_t)n;
	}
	if (s->o->sink)
		s->o->sink(s->o->sink_opaque, s->buf, CS);
	s->at += CS;
	memset(s->buf, 0, CS);
	return 0;
}

static int write_all(struct out *s, const struct qcow2_new_layout *l, const char *fmt, uint64_t l1_clusters,
		     uint64_t rb, uint64_t total, uint64_t first_l2, uint64_t first_data, char *err, size_t errlen)
{
	const struct qcow2_stream_opts *o = s->o;
	int e;
	qcow2_new_header(s->buf, l, o->create.backing, fmt);
	if ((e = emit(s, err, errlen)) < 0)
		return e;
	for (uint64_t i = 0, k = 0; i < l->rt_clusters; i++) { /* the refcount table */
		for (uint64_t x = 0; x < L2_ENTRIES && k < rb; x++, k++)
			qcow2_put_be64(s->buf + 8 * x, (1 + l->rt_clusters + k) * CS);
		if ((e = emit(s, err, errlen)) < 0)
			return e;
	}
	for (uint64_t i = 0, k = 0; i < rb; i++) {            /* the refcount blocks */
		for (uint64_t x = 0; x < RB_ENTRIES && k < total; x++, k++)
			s->buf[2 * x + 1] = 1;
		if ((e = emit(s, err, errlen)) < 0)
			return e;
	}
	uint64_t l2_at = first_l2;
	for (uint64_t i = 0, j = 0; i < l1_clusters; i++) {    /* the L1 table */
		for (uint64_t x = 0; x < L2_ENTRIES && j < l->l1_size; x++, j++)
			if (l2_count(o, j))
				qcow2_put_be64(s->buf + 8 * x, l2_at++ * CS | QCOW2_OFLAG_COPIED);
		if ((e = emit(s, err, errlen)) < 0)
			return e;
	}
	uint64_t data_at = first_data;
	for (uint64_t j = 0; j < l->l1_size; j++) {             /* the L2 tables */
		if (!l2_count(o, j))
			continue;
		for (uint64_t x = 0; x < L2_ENTRIES; x++)
			if (marked(o, j * L2_ENTRIES + x))
				qcow2_put_be64(s->buf + 8 * x, data_at++ * CS | QCOW2_OFLAG_COPIED);
		if ((e = emit(s, err, errlen)) < 0)
			return e;
	}
	uint64_t guest_clusters = (l->size + CS - 1) / CS;
	for (uint64_t c = 0; c < guest_clusters; c++) {          /* the data */
		if (!marked(o, c))
			continue;
		uint64_t len = MIN(CS, l->size - c * CS);
		if ((e = o->read(o->read_opaque, c * CS, s->buf, len)) < 0)
			return error_set(err, errlen, e, "reading the disk at %llu: %s", (unsigned long long)(c * CS),
					 strerror(-e));
		if ((e = emit(s, err, errlen)) < 0)
			return e;
	}
	return 0;
}

int qcow2_stream_create(const char *path, const struct qcow2_stream_opts *o, char *err, size_t errlen)
{
	char fmt[16];
	uint64_t size;
	int e = qcow2_new_backing(path, &o->create, fmt, sizeof(fmt), &size, err, errlen);
	if (e < 0)
		return e;
	uint32_t l1_size = qcow2_new_l1_size(size, err, errlen);
	if (!l1_size)
		return -EINVAL;
	/* Marks past the disk's last cluster (a bitmap over a file longer than the disk) mean nothing. */
	struct qcow2_stream_opts oc = *o;
	oc.nclusters = MIN(o->nclusters, (size + CS - 1) / CS);
	o = &oc;
	uint64_t l1_clusters = MAX((l1_size * 8ull + CS - 1) / CS, 1u), l2 = 0, data = 0;
	for (uint64_t j = 0; j < l1_size; j++) {
		uint64_t n = l2_count(o, j);
		l2 += n != 0;
		data += n;
	}
	/* The refcount blocks count every cluster, themselves and the table included. */
	uint64_t rb = 1, rt = 1, total;
	for (;;) {
		total = 1 + rt + rb + l1_clusters + l2 + data;
		uint64_t rb2 = (total + RB_ENTRIES - 1) / RB_ENTRIES, rt2 = (rb2 * 8 + CS - 1) / CS;
		if (rb2 <= rb && rt2 <= rt)
			break;
		rb = MAX(rb, rb2);
		rt = MAX(rt, rt2);
	}
	if (rt * CS > QCOW2_MAX_REFTABLE_BYTES)
		return error_set(err, errlen, -EFBIG, "%s would need a refcount table over %u MiB", path,
				 QCOW2_MAX_REFTABLE_BYTES >> 20);
	struct qcow2_new_layout l = { .size = size, .l1_size = l1_size, .rt_off = CS, .rt_clusters = (uint32_t)rt,
				      .l1_off = (1 + rt + rb) * CS };
	struct out s = { .path = path, .o = o, .buf = calloc(1, CS) };
	if (!s.buf)
		return error_oom(err, errlen);
	s.fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (s.fd < 0) {
		free(s.buf);
		return error_set(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
	}
	uint64_t first_l2 = 1 + rt + rb + l1_clusters;
	e = write_all(&s, &l, fmt, l1_clusters, rb, total, first_l2, first_l2 + l2, err, errlen);
	if (!e && o->create.sync && fsync(s.fd) < 0)
		e = error_set(err, errlen, -errno, "syncing %s: %s", path, strerror(errno));
	if (close(s.fd) < 0 && !e)
		e = error_set(err, errlen, -errno, "writing %s: %s", path, strerror(errno));
	free(s.buf);
	if (e < 0)
		unlink(path);
	return e;
}
