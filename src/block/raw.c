/* Raw image files: io_uring for the hot path, preadv/pwritev/fdatasync/fallocate otherwise. */
#include "block/raw.h"
#include "util/iov.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* O_DIRECT alignment of a regular file: what the kernel says (statx STATX_DIOALIGN, Linux
 * 6.1+; offsets and buffers), else the file system's block size, which is always enough. 512
 * (the old value) failed every request on a disk with 4 KiB logical sectors. */
static uint32_t file_dio_align(int fd, const struct stat *st)
{
	uint32_t a = 0;
#ifdef STATX_DIOALIGN
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN))
		a = MAX(sx.stx_dio_offset_align, sx.stx_dio_mem_align);
#endif
	if (!a)
		a = st->st_blksize > 512 ? (uint32_t)st->st_blksize : 512;
	return (a & (a - 1)) ? 4096 : a; /* a power of two (aligned() masks with it) */
}

static int open_flags(bool read_only, bool direct)
{
	return (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY | (direct ? O_DIRECT : 0);
}

/* A registered file spares each request the kernel's lookup (and reference count) of its
 * descriptor: 5-8 % more 4 KiB page-cache reads a second on a PVM host (docs/performance.md).
 * The ring holds a second open of the image, never f->fd: a ring is torn down asynchronously
 * after its process died, and so are its requests still in flight, each holding its file. The
 * open that carries the image's lock (disk.c's OFD lock on f->fd) must close with the process,
 * or after a SIGKILL the next petrel (a migration's destination, a standby taking over) or
 * qemu-img finds the image locked for a while (tests/block/test_lock_release.py). The second
 * open must reach the same file (a rename in between is not followed); anything else leaves
 * requests on the plain descriptor. */
bool raw_register_image(const struct raw_file *f, struct io_uring *ring)
{
	struct stat st, again;
	if (!f->path || fstat(f->fd, &st) < 0)
		return false;
	/* O_NONBLOCK as raw_open's: what is there now may be a FIFO. Cleared once it is the image
	 * (io_uring would answer -EAGAIN to reads that miss the page cache). */
	int fd = open(f->path, open_flags(f->read_only, f->direct) | O_NONBLOCK);
	if (fd < 0)
		return false;
	bool ok = fstat(fd, &again) == 0 && again.st_dev == st.st_dev && again.st_ino == st.st_ino &&
		  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) == 0 &&
		  io_uring_register_files(ring, &fd, 1) == 0;
	close(fd); /* the ring keeps its own reference */
	return ok;
}

int raw_open(struct raw_file *f, const char *path, bool read_only, bool direct, bool async, unsigned depth)
{
	memset(f, 0, sizeof(*f));
	f->fd = f->efd = -1;
	/* O_NONBLOCK so that a FIFO cannot hang us here; it is refused below, and the flag is
	 * cleared for what is kept. */
	f->fd = open(path, open_flags(read_only, direct) | O_NONBLOCK);
	if (f->fd < 0) {
		int err = -errno;
		if (direct && errno == EINVAL)
			log_error("disk %s: the file system does not support O_DIRECT", path);
		else
			log_error("cannot open disk image %s%s: %s", path, read_only ? " (read-only)" : "",
				  strerror(errno));
		return err;
	}
	struct stat st;
	if (fstat(f->fd, &st) < 0) {
		int err = -errno;
		raw_close(f);
		return err;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t sz = 0;
		if (ioctl(f->fd, BLKGETSIZE64, &sz) < 0) {
			int err = -errno;
			log_error("disk %s: BLKGETSIZE64: %s", path, strerror(errno));
			raw_close(f);
			return err;
		}
		f->size = sz;
	} else if (S_ISREG(st.st_mode)) {
		f->size = (uint64_t)st.st_size;
	} else {
		log_error("disk %s: not a regular file or block device", path);
		raw_close(f);
		return -EINVAL;
	}
	if (fcntl(f->fd, F_SETFL, fcntl(f->fd, F_GETFL) & ~O_NONBLOCK) < 0) {
		int err = -errno;
		raw_close(f);
		return err;
	}
	f->path = strdup(path);
	f->read_only = read_only;
	f->direct = direct;
	f->dio_align = 512;
	if (direct && S_ISBLK(st.st_mode)) {
		int lbs = 0;
		if (ioctl(f->fd, BLKSSZGET, &lbs) == 0 && lbs > 0)
			f->dio_align = (uint32_t)lbs;
	} else if (direct) {
		f->dio_align = file_dio_align(f->fd, &st);
	}
	if (!async)
		return 0;
	f->depth = depth ? depth : 128;
	int r = io_uring_queue_init(f->depth, &f->ring, 0);
	if (r < 0) {
		log_warn("disk %s: io_uring unavailable (%s): using synchronous I/O", path, strerror(-r));
		return 0;
	}
	/* Completions are waited for by polling the ring's own fd (readable while completions
	 * wait in it): unlike an eventfd registered with the ring, nothing needs reading after
	 * the completions that the submit itself produced were reaped, and there is no stale
	 * wakeup for them. */
	f->efd = f->ring.ring_fd;
	f->fixed = raw_register_image(f, &f->ring);
	f->async = true;
	return 0;
}

void raw_close(struct raw_file *f)
{
	if (f->async) {
		raw_reap(f, NULL, NULL, true);
		io_uring_queue_exit(&f->ring); /* closes the ring's fd, f->efd */
		f->async = false;
	}
	if (f->fd >= 0)
		close(f->fd);
	f->fd = f->efd = -1;
	free(f->path);
	f->path = NULL;
}

static bool aligned(const struct raw_file *f, uint64_t off, const struct iovec *iov, unsigned n)
{
	uint64_t a = f->dio_align - 1;
	if (off & a)
		return false;
	for (unsigned i = 0; i < n; i++)
		if (((uintptr_t)iov[i].iov_base & a) || (iov[i].iov_len & a))
			return false;
	return true;
}

int raw_queue(struct raw_file *f, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n, void *tag)
{
	if (op == RAW_WRITE && raw_write_inline(f))
		return -EAGAIN;
	return raw_queue_at(f, f->fd, f->direct, op, off, iov, n, tag);
}

int raw_queue_at(struct raw_file *f, int fd, bool direct, enum raw_op op, uint64_t off, const struct iovec *iov,
		 unsigned n, void *tag)
{
	if (!f->async)
		return -EAGAIN;
	if (direct && op != RAW_FLUSH && !aligned(f, off, iov, n))
		return -EAGAIN;
	if (f->inflight + f->queued >= f->depth)
		return -EAGAIN;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f->ring);
	if (!sqe)
		return -EAGAIN;
	/* One buffer (the usual request): a plain read or write, no iovec array to import. */
	switch (op) {
	case RAW_READ:
		if (n == 1)
			io_uring_prep_read(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len, off);
		else
			io_uring_prep_readv(sqe, fd, iov, n, off);
		break;
	case RAW_WRITE:
		if (n == 1)
			io_uring_prep_write(sqe, fd, iov[0].iov_base, (unsigned)iov[0].iov_len, off);
		else
			io_uring_prep_writev(sqe, fd, iov, n, off);
		break;
	case RAW_FLUSH: io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
	}
	if (f->fixed && fd == f->fd)
		raw_sqe_fixed(sqe);
	io_uring_sqe_set_data(sqe, tag);
	f->queued++;
	return 0;
}

int raw_kick(struct raw_file *f)
{
	if (!f->async || !f->queued)
		return 0;
	int r = io_uring_submit(&f->ring);
	if (r < 0) {
		log_limited(LOG_WARN, "disk %s: io_uring_submit: %s", f->path, strerror(-r));
		return r;
	}
	/* The kernel may take fewer than were queued: the rest stay in the ring for the next
	 * submit, and are not in flight (a wait for them would never end). */
	unsigned took = (unsigned)r < f->queued ? (unsigned)r : f->queued;
	f->kicks++;
	f->inflight += took;
	f->submitted += took;
	f->queued -= took;
	return took ? 0 : -EAGAIN;
}

#define KICK_TRIES 1000 /* a wait gives a refusing kernel 1 ms each, about 1 s in all */

int raw_reap(struct raw_file *f, raw_done_fn fn, void *ctx, bool wait)
{
	if (!f->async)
		return 0;
	int n = 0;
	for (unsigned tries = 0;;) {
		/* A wait covers what is queued too: those requests' buffers go away after it (a
		 * reset, a pause), so none may stay in the ring to be submitted later. */
		if (wait && f->queued && raw_kick(f) < 0 && !f->inflight) {
			if (++tries < KICK_TRIES) {
				usleep(1000);
				continue;
			}
			log_error("disk %s: %u requests cannot be submitted", f->path, f->queued);
			break;
		}
		struct io_uring_cqe *cqe;
		int r;
		if (wait && f->inflight)
			r = io_uring_wait_cqe(&f->ring, &cqe);
		else
			r = io_uring_peek_cqe(&f->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0 || !cqe)
			break;
		void *tag = io_uring_cqe_get_data(cqe);
		int64_t res = cqe->res;
		io_uring_cqe_seen(&f->ring, cqe);
		f->inflight--;
		f->completed++;
		n++;
		if (fn)
			fn(ctx, tag, res);
	}
	return n;
}

/* pread/pwrite of all len bytes (each call moves at most MAX_RW_COUNT, 2 GiB - 4 KiB): bytes
 * moved (fewer only at the end of the file) or -errno. */
static int64_t pio_all(int fd, bool wr, uint8_t *buf, uint64_t len, uint64_t off)
{
	uint64_t done = 0;
	while (done < len) {
		ssize_t r = wr ? pwrite(fd, buf + done, len - done, (off_t)(off + done))
			       : pread(fd, buf + done, len - done, (off_t)(off + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			break;
		done += (uint64_t)r;
	}
	return (int64_t)done;
}

#define BOUNCE_MAX (1u << 20) /* bytes of the bounce buffer at most: the range goes through it in pieces */

static int64_t bounce(struct raw_file *f, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	/* O_DIRECT with buffers or offsets it cannot take: go through an aligned buffer over
	 * the aligned byte range, a piece at a time. Writes of a partial block read the block
	 * first. */
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	uint64_t a = f->dio_align, start = ALIGN_DOWN(off, a), end = ALIGN_UP(off + total, a);
	uint64_t cap = MIN(end - start, ALIGN_UP((uint64_t)BOUNCE_MAX, a));
	uint8_t *buf = NULL;
	if (posix_memalign((void **)&buf, 4096, cap))
		return -ENOMEM;
	int64_t r = 0;
	for (uint64_t at = start; at < end; at += cap) {
		uint64_t len = MIN(cap, end - at);
		uint64_t lo = MAX(off, at), hi = MIN(off + total, at + len); /* the caller's bytes here */
		if (op == RAW_READ || lo != at || hi != at + len) {
			int64_t got = pio_all(f->fd, false, buf, len, at);
			if (got < 0) {
				r = got;
				goto out;
			}
			if ((uint64_t)got < len) /* past the end of the file */
				memset(buf + got, 0, len - (uint64_t)got);
		}
		iov_copy_at(iov, n, lo - off, buf + (lo - at), hi - lo, op == RAW_READ);
		if (op == RAW_WRITE) {
			int64_t put = pio_all(f->fd, true, buf, len, at);
			if (put < 0) {
				r = put;
				goto out;
			}
			if ((uint64_t)put != len) {
				r = -EIO;
				goto out;
			}
		}
	}
	r = (int64_t)total;
out:
	free(buf);
	return r;
}

/* preadv/pwritev of all total bytes of iov. */
static int64_t rw_all(struct raw_file *f, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n,
		      uint64_t total)
{
	/* preadv/pwritev take at most IOV_MAX iovecs and may transfer less than asked: loop. */
	uint64_t done = 0;
	unsigned i = 0;
	size_t skip = 0;
	while (done < total) {
		struct iovec tmp[64];
		unsigned k = 0;
		for (unsigned j = i; j < n && k < 64; j++, k++) {
			tmp[k] = iov[j];
			if (j == i) {
				tmp[k].iov_base = (uint8_t *)tmp[k].iov_base + skip;
				tmp[k].iov_len -= skip;
			}
		}
		ssize_t r = op == RAW_READ ? preadv(f->fd, tmp, (int)k, (off_t)(off + done))
					   : pwritev(f->fd, tmp, (int)k, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return op == RAW_READ ? -EIO : -ENOSPC;
		done += (uint64_t)r;
		size_t left = (size_t)r;
		while (left && i < n) {
			size_t avail = iov[i].iov_len - skip;
			if (left < avail) {
				skip += left;
				left = 0;
			} else {
				left -= avail;
				i++;
				skip = 0;
			}
		}
		while (i < n && iov[i].iov_len == 0)
			i++;
	}
	return (int64_t)total;
}

int64_t raw_sync(struct raw_file *f, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	__atomic_fetch_add(&f->sync_ops, 1, __ATOMIC_RELAXED); /* the I/O thread, and a disk copy's */
	if (op == RAW_FLUSH)
		return fdatasync(f->fd) < 0 ? -errno : 0;
	if (f->direct && !aligned(f, off, iov, n))
		return bounce(f, op, off, iov, n);
	uint64_t total = 0;
	for (unsigned i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (op != RAW_WRITE || !f->async || f->direct || !total) /* (an empty write would teach nothing) */
		return rw_all(f, op, off, iov, n, total);
	if (__atomic_load_n(&f->wr_mode, __ATOMIC_RELAXED) == RAW_WR_PROBE) {
		int64_t r = raw_write_probe(f, off, iov, n);
		if (r == (int64_t)total)
			return r;
		/* a refusal, or part of it: all of it again, blocking */
	}
	if (__atomic_load_n(&f->wr_mode, __ATOMIC_RELAXED) != RAW_WR_INLINE)
		return rw_all(f, op, off, iov, n, total);
	uint64_t t0 = now_ns();
	int64_t r = rw_all(f, op, off, iov, n, total);
	uint64_t t1 = now_ns();
	raw_write_timed(f, t1 - t0, total, t1);
	return r;
}

int raw_discard(struct raw_file *f, uint64_t off, uint64_t len)
{
	if (!len)
		return 0;
	if (fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) < 0 &&
	    errno != EOPNOTSUPP)
		return -errno;
	return 0;
}

int raw_write_zeroes(struct raw_file *f, uint64_t off, uint64_t len, bool unmap)
{
	if (!len)
		return 0;
	int mode = unmap ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE : FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
	if (fallocate(f->fd, mode, (off_t)off, (off_t)len) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EINVAL)
		return -errno;
	/* No fallocate mode for it here: write zeroes. */
	/* In .bss, not .rodata: a const array would put 64 KiB of zeroes in petrel's file, which
	 * the kernel maps around the read-only data every start touches (peak RSS). Never written. */
	static uint8_t zero[65536] __attribute__((aligned(4096)));
	while (len) {
		size_t chunk = (size_t)MIN(len, (uint64_t)sizeof(zero));
		struct iovec iov = { (void *)zero, chunk };
		int64_t r = raw_sync(f, RAW_WRITE, off, &iov, 1);
		if (r < 0)
			return (int)r;
		off += chunk;
		len -= chunk;
	}
	return 0;
}
