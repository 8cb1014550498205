/* Disk images: format detection, backing chains, and dispatch to raw.c or qcow2.c.
 *
 * The trust rule for backing files: an image's backing file name is data from the image. It
 * is followed read-only, resolved against the directory of the image that names it, through
 * at most DISK_MAX_CHAIN images, and a file met twice (same device and inode) is a loop and
 * refused. The format of a backing file is the one the image names (qcow2's backing-format
 * extension) or, if it names none, probed. A top-level image given with an explicit format
 * is never probed: pin format=raw for images whose guest could have written qcow2's magic. */
#include "block/disk.h"
#include "util/iov.h"
#include "block/qcow2.h"
#include "util/log.h"
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

struct chain {
	unsigned depth;
	dev_t dev[DISK_MAX_CHAIN];
	ino_t ino[DISK_MAX_CHAIN];
};

static int probe(struct disk *d, enum disk_format *out)
{
	uint8_t magic[8] = { 0 };
	struct iovec iov = { magic, sizeof(magic) };
	*out = DISK_FORMAT_RAW;
	if (d->file.size < sizeof(magic))
		return 0;
	/* A raw O_DIRECT file goes through raw_sync's bounce buffer for this small read. */
	int64_t r = raw_sync(&d->file, RAW_READ, 0, &iov, 1);
	if (r < 0)
		return (int)r;
	if (qcow2_probe(magic, sizeof(magic)))
		*out = DISK_FORMAT_QCOW2;
	return 0;
}

static int lock_file(struct raw_file *f, const char *path, bool quiet)
{
	struct flock fl = { .l_type = f->read_only ? F_RDLCK : F_WRLCK, .l_whence = SEEK_SET };
	if (fcntl(f->fd, F_OFD_SETLK, &fl) == 0)
		return 0;
	int e = errno;
	if (e == EAGAIN || e == EACCES) {
		if (quiet)
			return -EBUSY;
		log_error("disk %s is in use by another process (%s): refusing to open it %s", path,
			  f->read_only ? "it is open for writing" : "it is open",
			  f->read_only ? "read-only beside a writer" : "for writing");
		return -EBUSY;
	}
	if (e == EINVAL || e == ENOLCK || e == EOPNOTSUPP)
		return 0; /* a file system without locks: nothing to hold */
	log_error("disk %s: cannot lock it: %s", path, strerror(e));
	return -e;
}

int disk_lock(struct disk *d, bool quiet)
{
	return lock_file(&d->file, d->file.path ? d->file.path : "?", quiet);
}

int disk_handover(struct disk *d)
{
	if (d->qcow2)
		return qcow2_handover(d->qcow2);
	/* Another host's page cache reads the file from the shared file system, not from ours. */
	return d->file.read_only || fdatasync(d->file.fd) == 0 ? 0 : -errno;
}

int disk_unlock(struct disk *d)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET };
	if (fcntl(d->file.fd, F_OFD_SETLK, &fl) == 0 || errno == EINVAL || errno == ENOLCK || errno == EOPNOTSUPP)
		return 0;
	return -errno;
}

static int open_chain(struct disk *d, const char *path, const struct disk_options *o, struct chain *ch);

static int open_backing(struct disk *d, const char *path, struct chain *ch)
{
	const struct qcow2_header *h = qcow2_header(d->qcow2);
	char full[PATH_MAX];
	if (h->backing_file[0] == '/') {
		snprintf(full, sizeof(full), "%s", h->backing_file);
	} else {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", path);
		if (snprintf(full, sizeof(full), "%s/%s", dirname(dir), h->backing_file) >= (int)sizeof(full)) {
			log_error("disk %s: backing file name too long", path);
			return -ENAMETOOLONG;
		}
	}
	struct disk_options bo = { .read_only = true };
	if (h->backing_format[0]) {
		int f = disk_format_parse(h->backing_format);
		if (f <= 0) {
			log_error("disk %s: backing file %s has format '%s': only raw and qcow2 are supported", path,
				  full, h->backing_format);
			return -ENOTSUP;
		}
		bo.format = (enum disk_format)f;
	}
	struct disk *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	int err = open_chain(b, full, &bo, ch);
	if (err < 0) {
		log_error("disk %s: cannot open its backing file %s", path, full);
		free(b);
		return err;
	}
	qcow2_set_backing(d->qcow2, b);
	return 0;
}

static int open_chain(struct disk *d, const char *path, const struct disk_options *o, struct chain *ch)
{
	memset(d, 0, sizeof(*d));
	d->file.fd = d->file.efd = -1;
	if (ch->depth >= DISK_MAX_CHAIN) {
		log_error("disk %s: the backing chain is longer than %d images", path, DISK_MAX_CHAIN);
		return -ELOOP;
	}
	/* qcow2 is served through the page cache (no O_DIRECT); its data goes through the ring
	 * where the mapping allows (disk_queue), its metadata synchronously. */
	bool q = o->format == DISK_FORMAT_QCOW2;
	int err = raw_open(&d->file, path, o->read_only, o->direct && !q, o->async, o->depth);
	if (err < 0)
		return err;
	struct stat st;
	if (fstat(d->file.fd, &st) < 0) {
		err = -errno;
		goto fail;
	}
	for (unsigned i = 0; i < ch->depth; i++)
		if (ch->dev[i] == st.st_dev && ch->ino[i] == st.st_ino) {
			log_error("disk %s: the backing chain loops back to an image already in it", path);
			err = -ELOOP;
			goto fail;
		}
	ch->dev[ch->depth] = st.st_dev;
	ch->ino[ch->depth] = st.st_ino;
	ch->depth++;
	if ((!o->no_lock || ch->depth > 1) && (err = lock_file(&d->file, path, false)) < 0)
		goto fail;
	d->format = o->format;
	if (d->format == DISK_FORMAT_AUTO && (err = probe(d, &d->format)) < 0)
		goto fail;
	d->size = d->file.size;
	if (d->format == DISK_FORMAT_RAW)
		return 0;
	if (o->direct)
		log_warn("disk %s: qcow2 images are not opened with O_DIRECT", path);
	if (d->file.direct) {
		/* Probed as qcow2 after opening with O_DIRECT: reopen without it. */
		struct disk_options so = *o;
		so.format = DISK_FORMAT_QCOW2;
		so.direct = false;
		raw_close(&d->file);
		ch->depth--;
		return open_chain(d, path, &so, ch);
	}
	char msg[256];
	err = qcow2_open(&d->qcow2, &d->file, o->read_only, msg, sizeof(msg));
	if (err < 0) {
		log_error("disk %s: qcow2: %s", path, msg);
		goto fail;
	}
	d->size = qcow2_header(d->qcow2)->size;
	if (qcow2_header(d->qcow2)->backing_file[0] && (err = open_backing(d, path, ch)) < 0)
		goto fail;
	return 0;
fail:
	disk_close(d);
	return err;
}

int disk_open(struct disk *d, const char *path, const struct disk_options *o)
{
	struct chain ch = { 0 };
	return open_chain(d, path, o, &ch);
}

void disk_close(struct disk *d)
{
	qcow2_close(d->qcow2);
	d->qcow2 = NULL;
	raw_close(&d->file);
}

void disk_move(struct disk *dst, struct disk *src)
{
	*dst = *src;
	if (dst->qcow2)
		qcow2_set_file(dst->qcow2, &dst->file);
	memset(src, 0, sizeof(*src));
	src->file.fd = src->file.efd = -1;
}

int disk_queue(struct disk *d, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n, void *tag)
{
	if (!d->qcow2)
		return raw_queue(&d->file, op, off, iov, n, tag);
	if (!d->file.async || op == RAW_FLUSH || d->file.inflight + d->file.queued >= d->file.depth)
		return -EAGAIN;
	int fd;
	uint64_t host;
	if (qcow2_map_extent(d->qcow2, op, off, iov_total(iov, n), &fd, &host) < 0)
		return -EAGAIN;
	return raw_queue_at(&d->file, fd, false, op, host, iov, n, tag);
}

int disk_kick(struct disk *d)
{
	return raw_kick(&d->file);
}

int disk_reap(struct disk *d, raw_done_fn fn, void *ctx, bool wait)
{
	return raw_reap(&d->file, fn, ctx, wait);
}

unsigned disk_inflight(const struct disk *d)
{
	return d->file.async ? d->file.inflight + d->file.queued : 0;
}

bool disk_has_completions(struct disk *d)
{
	return d->file.async && d->file.inflight && io_uring_cq_ready(&d->file.ring);
}

int64_t disk_sync(struct disk *d, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	return d->qcow2 ? qcow2_rw(d->qcow2, op, off, iov, n) : raw_sync(&d->file, op, off, iov, n);
}

int64_t disk_write_held(struct disk *d, uint64_t off, const struct iovec *iov, unsigned n)
{
	return d->qcow2 ? qcow2_rw_held(d->qcow2, RAW_WRITE, off, iov, n) : raw_sync(&d->file, RAW_WRITE, off, iov, n);
}

int disk_commit_start(struct disk *d)
{
	return d->qcow2 ? qcow2_commit_start(d->qcow2) : 0;
}

int disk_commit(struct disk *d)
{
	return d->qcow2 ? qcow2_commit(d->qcow2) : 0;
}

int disk_status(struct disk *d, uint64_t off, uint64_t *len, bool *data)
{
	if (d->qcow2)
		return qcow2_status(d->qcow2, off, len, data);
	*data = true;
	off_t at = lseek(d->file.fd, (off_t)off, SEEK_DATA);
	if (at < 0 && errno == ENXIO) { /* nothing but holes from here on */
		*data = false;
		return 0;
	}
	if (at < 0)
		return 0; /* no SEEK_DATA here: all of it may be data */
	if ((uint64_t)at > off) {
		*data = false;
		*len = MIN(*len, (uint64_t)at - off);
		return 0;
	}
	off_t hole = lseek(d->file.fd, (off_t)off, SEEK_HOLE);
	if (hole > at)
		*len = MIN(*len, (uint64_t)hole - off);
	return 0;
}

int disk_discard(struct disk *d, uint64_t off, uint64_t len)
{
	return d->qcow2 ? qcow2_zero(d->qcow2, off, len, true) : raw_discard(&d->file, off, len);
}

int disk_write_zeroes(struct disk *d, uint64_t off, uint64_t len, bool unmap)
{
	return d->qcow2 ? qcow2_zero(d->qcow2, off, len, false) : raw_write_zeroes(&d->file, off, len, unmap);
}
