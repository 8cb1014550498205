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
	struct io_uring ring;
	int efd;                /* readable when completions are waiting (async only: the ring's fd) */
	unsigned depth, inflight, queued;
	uint64_t submitted, completed, sync_ops;
	uint64_t kicks;         /* io_uring_submit calls that submitted something */
};

/* Open path. direct: O_DIRECT (fails if the file system cannot). async: try io_uring with
 * `depth` entries, else log why and use the synchronous path. */
int raw_open(struct raw_file *f, const char *path, bool read_only, bool direct, bool async, unsigned depth);
void raw_close(struct raw_file *f);

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
