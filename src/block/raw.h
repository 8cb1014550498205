/* A raw disk image file as a block backend: positional vectored reads and writes, flush,
 * discard and write-zeroes. Asynchronous through io_uring (liburing) when available, with
 * a synchronous preadv/pwritev path that is always there (io=sync, io_uring missing or
 * disabled on the host, ring full, or buffers O_DIRECT cannot take). */
#ifndef PETREL_BLOCK_RAW_H
#define PETREL_BLOCK_RAW_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

enum raw_op { RAW_READ, RAW_WRITE, RAW_FLUSH };

#define RAW_MAX_FILES 16 /* files one ring serves (an image and its backing chain) */

struct raw_file {
	int fd;
	char *path;
	bool read_only;
	bool direct;            /* O_DIRECT */
	uint32_t dio_align;     /* buffer/offset alignment O_DIRECT needs */
	uint64_t size;          /* bytes */
	bool async;             /* io_uring ring is up */
	bool fixed;             /* the ring holds the image as its file 0 (raw_register_image) */
	struct io_uring ring;
	int efd;                /* readable when completions are waiting (async only: the ring's fd) */
	unsigned depth, inflight, queued;
	uint64_t submitted, completed, sync_ops;
	uint64_t kicks;         /* io_uring_submit calls that submitted something */
	/* Buffered writes (raw_queue; raw_write.c): the first one learns whether the file system
	 * takes them without blocking (RAW_WR_RING: they go through the ring like the rest) or
	 * not (RAW_WR_INLINE: io_uring would hand each to a worker thread, so raw_queue leaves
	 * them to raw_sync on the caller's thread while they stay quick). */
	int wr_mode;            /* RAW_WR_PROBE, RAW_WR_RING, RAW_WR_INLINE */
	uint64_t wr_resume_ns;  /* RAW_WR_INLINE: writes take the ring until then (one was slow) */
	uint64_t wr_pause_ns;   /* the next such pause */
	uint64_t wr_slow_ns;    /* when the last slow write ended */
	uint64_t wr_inline, wr_slow; /* writes done on the caller's thread; slow ones among them */
};

enum { RAW_WR_PROBE, RAW_WR_RING, RAW_WR_INLINE };

/* A write the caller's thread should do itself (raw_queue answers -EAGAIN, raw_sync does it):
 * a buffered write the file system cannot take without blocking, outside a pause. */
bool raw_write_inline(struct raw_file *f);
/* raw_sync's buffered write with f->wr_mode RAW_WR_PROBE: try it with RWF_NOWAIT and learn
 * the mode from the answer. Bytes written (maybe fewer than total: write them again in full)
 * or -errno. */
int64_t raw_write_probe(struct raw_file *f, uint64_t off, const struct iovec *iov, unsigned n);
/* An inline write of len bytes took ns, ending at now: a slow one (over 10 ms + 1 ns a byte:
 * dirty throttling, reclaim, a slow device) pauses inline writes, 1 s and twice as long each
 * time after, up to 64 s. */
void raw_write_timed(struct raw_file *f, uint64_t ns, uint64_t len, uint64_t now);

/* Open path. direct: O_DIRECT (fails if the file system cannot). async: try io_uring with
 * `depth` entries, else log why and use the synchronous path. */
int raw_open(struct raw_file *f, const char *path, bool read_only, bool direct, bool async, unsigned depth);
void raw_close(struct raw_file *f);
/* Make f's image file 0 of ring (registered: no descriptor lookup per request), through a
 * second open of it that carries no lock: true if done. raw_open does it for f's own ring. */
bool raw_register_image(const struct raw_file *f, struct io_uring *ring);
/* An sqe prepared on f->fd, moved to a ring's registered file 0. */
static inline void raw_sqe_fixed(struct io_uring_sqe *sqe)
{
	sqe->fd = 0;
	sqe->flags |= IOSQE_FIXED_FILE;
}

/* Queue an asynchronous op (submitted by raw_kick). tag comes back from raw_reap. The iovec
 * array and buffers must stay valid until then. -EAGAIN: ring full or this op cannot go
 * async (e.g. unaligned O_DIRECT buffers): use raw_sync. */
int raw_queue(struct raw_file *f, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n, void *tag);
/* As raw_queue, on another file (fd, opened with O_DIRECT or not as direct says) through f's
 * ring: the files of a backing chain share their top image's ring. */
int raw_queue_at(struct raw_file *f, int fd, bool direct, enum raw_op op, uint64_t off, const struct iovec *iov,
		 unsigned n, void *tag);
/* Submit what is queued: 0, or -errno when the kernel took none of it (what it did not take
 * stays queued for the next kick; raw_reap with wait keeps kicking). */
int raw_kick(struct raw_file *f);
/* Call fn(ctx, tag, result) for each finished op (result: bytes or -errno). With wait, block
 * until every in-flight op is done. Returns the number reaped. */
typedef void (*raw_done_fn)(void *ctx, void *tag, int64_t result);
int raw_reap(struct raw_file *f, raw_done_fn fn, void *ctx, bool wait);

/* Synchronous op: bytes transferred (all of them, or an error) or -errno. */
int64_t raw_sync(struct raw_file *f, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n);
/* Deallocate [off, off+len) (advisory: success even if the file system cannot). */
int raw_discard(struct raw_file *f, uint64_t off, uint64_t len);
/* Make [off, off+len) read as zeroes; unmap: may deallocate. */
int raw_write_zeroes(struct raw_file *f, uint64_t off, uint64_t len, bool unmap);

#endif
