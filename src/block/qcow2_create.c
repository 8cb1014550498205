/* New qcow2 images: an empty v3 image, optionally over a backing file (an overlay), as
 * `qemu-img create -f qcow2 [-b BASE -F FMT]` makes one. What it costs does not depend on
 * the backing file's size: a header, a refcount table, one refcount block and an L1 table
 * (zeroes, a hole), four clusters for disks up to 4 TiB, and nothing read from the backing
 * file but its first 4 KiB (a qcow2 backing file: its first cluster).
 *
 * Layout (64 KiB clusters): cluster 0 the header, its backing-format extension and the
 * backing file name; cluster 1 the refcount table (one entry: cluster 2); cluster 2 the
 * refcount block (16-bit refcounts: clusters 0 .. 2 + L1 clusters counted once); from
 * cluster 3 the L1 table. */
#include "block/qcow2.h"
#include "block/qcow2_layout.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CBITS QCOW2_NEW_CBITS
#define HEADER_LEN QCOW2_V3_HEADER_LEN
#define REFCOUNT_ORDER QCOW2_NEW_REFCOUNT_ORDER

int qcow2_image_info(const char *path, const char *format, char *fmt_out, size_t fmt_len, uint64_t *size,
		     char *err, size_t errlen)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	off_t end = fstat(fd, &st) == 0 ? lseek(fd, 0, SEEK_END) : -1;
	if (end < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return error_set(err, errlen, -EINVAL, "%s is not a regular file or block device", path);
	/* The magic, and for qcow2 the header and its extensions: the first cluster. */
	_cleanup_free_ uint8_t *buf = malloc(1u << QCOW2_MAX_CLUSTER_BITS);
	if (!buf)
		return error_set(err, errlen, -ENOMEM, "cannot read %s: %s", path, strerror(ENOMEM));
	size_t want = (size_t)MIN((uint64_t)end, 4096u);
	ssize_t got = pread(fd, buf, want, 0);
	bool qcow2 = format && !strcmp(format, "qcow2");
	if (!format || !strcmp(format, "auto"))
		qcow2 = got > 0 && qcow2_probe(buf, (size_t)got);
	if (got >= 24 && qcow2) {
		uint32_t cbits = qcow2_be32(buf + 20);
		if (cbits >= QCOW2_MIN_CLUSTER_BITS && cbits <= QCOW2_MAX_CLUSTER_BITS && (1ull << cbits) > (uint64_t)got) {
			want = (size_t)MIN((uint64_t)end, 1ull << cbits);
			got = pread(fd, buf, want, 0);
		}
	}
	if (got < 0)
		return error_set(err, errlen, -errno, "cannot read %s: %s", path, strerror(errno));
	if (format && strcmp(format, "auto") && strcmp(format, "raw") && strcmp(format, "qcow2"))
		return error_set(err, errlen, -EINVAL, "format '%s': raw or qcow2", format);
	int r = 0;
	*size = (uint64_t)end;
	if (qcow2) {
		_cleanup_free_ struct qcow2_header *h = malloc(sizeof(*h));
		char msg[200];
		r = h ? qcow2_header_parse(buf, (size_t)got, (uint64_t)end, h, msg, sizeof(msg)) : -ENOMEM;
		if (r == 0)
			*size = h->size;
		else
			r = error_set(err, errlen, r, "%s: qcow2: %s", path, h ? msg : "out of memory");
	}
	snprintf(fmt_out, fmt_len, "%s", qcow2 ? "qcow2" : "raw");
	return r;
}

int qcow2_new_backing(const char *path, const struct qcow2_create_opts *o, char *fmt, size_t fmtlen,
		      uint64_t *size, char *err, size_t errlen)
{
	*size = o->size;
	fmt[0] = 0;
	if (!o->backing)
		return 0;
	size_t blen = strlen(o->backing);
	if (!blen || blen > QCOW2_MAX_BACKING_NAME)
		return error_set(err, errlen, -EINVAL, "the backing file name must have 1 to %d bytes",
				 QCOW2_MAX_BACKING_NAME);
	/* A relative name is relative to the new image's directory, as when it is opened. */
	char full[PATH_MAX], dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	if (o->backing[0] == '/')
		snprintf(full, sizeof(full), "%s", o->backing);
	else if (snprintf(full, sizeof(full), "%s/%s", dirname(dir), o->backing) >= (int)sizeof(full))
		return error_set(err, errlen, -ENAMETOOLONG, "backing file %s: %s", o->backing, strerror(ENAMETOOLONG));
	uint64_t bsize;
	int r = qcow2_image_info(full, o->backing_format, fmt, fmtlen, &bsize, err, errlen);
	if (r == 0 && !o->size)
		*size = bsize;
	return r;
}

uint32_t qcow2_new_l1_size(uint64_t size, char *err, size_t errlen)
{
	const uint64_t cs = 1ull << CBITS;
	if (!size || size > QCOW2_MAX_SIZE) {
		error_set(err, errlen, -EINVAL, "the virtual size must be given (no backing file) and at most 2^56 bytes");
		return 0;
	}
	uint64_t l1_size = (size + (cs << (CBITS - 3)) - 1) >> (2 * CBITS - 3);
	if (l1_size * 8 > QCOW2_MAX_L1_BYTES) {
		error_set(err, errlen, -EINVAL, "the virtual size needs an L1 table over %u MiB", QCOW2_MAX_L1_BYTES >> 20);
		return 0;
	}
	return (uint32_t)l1_size;
}

size_t qcow2_new_header(uint8_t *hdr, const struct qcow2_new_layout *l, const char *backing, const char *fmt)
{
	qcow2_put_be32(hdr, QCOW2_MAGIC);
	qcow2_put_be32(hdr + 4, 3);
	qcow2_put_be32(hdr + 20, CBITS);
	qcow2_put_be64(hdr + 24, l->size);
	qcow2_put_be32(hdr + 36, l->l1_size);
	qcow2_put_be64(hdr + 40, l->l1_off);
	qcow2_put_be64(hdr + 48, l->rt_off);
	qcow2_put_be32(hdr + 56, l->rt_clusters);
	qcow2_put_be32(hdr + 96, REFCOUNT_ORDER);
	qcow2_put_be32(hdr + 100, HEADER_LEN);
	size_t at = HEADER_LEN;
	if (backing) {
		size_t flen = strlen(fmt);
		qcow2_put_be32(hdr + at, QCOW2_EXT_BACKING_FORMAT);
		qcow2_put_be32(hdr + at + 4, (uint32_t)flen);
		memcpy(hdr + at + 8, fmt, flen);
		at += 8 + ALIGN_UP(flen, 8);
	}
	at += 8; /* the end-of-extensions marker: zeroes */
	if (backing) {
		size_t blen = strlen(backing);
		qcow2_put_be64(hdr + 8, at);
		qcow2_put_be32(hdr + 16, (uint32_t)blen);
		memcpy(hdr + at, backing, blen);
		at += blen;
	}
	return at;
}

int qcow2_create(const char *path, const struct qcow2_create_opts *o, char *err, size_t errlen)
{
	const uint64_t cs = 1ull << CBITS;
	char fmt[16];
	uint64_t size;
	int r = qcow2_new_backing(path, o, fmt, sizeof(fmt), &size, err, errlen);
	if (r < 0)
		return r;
	uint32_t l1_size = qcow2_new_l1_size(size, err, errlen);
	if (!l1_size)
		return -EINVAL;
	uint64_t l1_clusters = MAX((l1_size * 8ull + cs - 1) / cs, 1u);
	/* Cluster 0: header, extensions, backing file name. */
	uint8_t hdr[QCOW2_NEW_HEADER_MAX];
	memset(hdr, 0, sizeof(hdr));
	struct qcow2_new_layout l = { .size = size, .l1_size = l1_size, .l1_off = 3 * cs, .rt_off = cs, .rt_clusters = 1 };
	size_t at = qcow2_new_header(hdr, &l, o->backing, fmt);
	/* Cluster 1: the refcount table; cluster 2: the refcount block. */
	uint8_t rt[8], rb[2 * (3 + 8)];
	uint64_t used = 3 + l1_clusters;
	if (used > sizeof(rb) / 2)
		return error_set(err, errlen, -EINVAL,
				 "the virtual size needs an L1 table over 8 clusters (32 TiB)");
	qcow2_put_be64(rt, 2 * cs);
	size_t rb_len = 2 * used;
	for (uint64_t i = 0; i < used; i++) {
		rb[2 * i] = 0;
		rb[2 * i + 1] = 1;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return error_set(err, errlen, -errno, "cannot create %s: %s", path, strerror(errno));
	int e = 0;
	errno = 0;
	if (pwrite(fd, hdr, at, 0) != (ssize_t)at || pwrite(fd, rt, 8, (off_t)cs) != 8 ||
	    pwrite(fd, rb, rb_len, (off_t)(2 * cs)) != (ssize_t)rb_len || ftruncate(fd, (off_t)(used * cs)) < 0 ||
	    (o->sync && fsync(fd) < 0))
		e = errno ? errno : EIO;
	if (close(fd) < 0 && !e)
		e = errno;
	if (e) {
		unlink(path);
		return error_set(err, errlen, -e, "writing %s: %s", path, strerror(e));
	}
	return 0;
}
