/* What the disk-boot readers read from: a range of bytes of a disk (the whole disk, or one
 * partition of it) behind a read callback, so the parsers run the same over petrel's block
 * layer (diskboot.c) and over a fuzzer's bytes in memory. */
#ifndef PETREL_DISKBOOT_SOURCE_H
#define PETREL_DISKBOOT_SOURCE_H

#include <stddef.h>
#include <stdint.h>

/* Read len bytes at off of the whole disk: 0 or -errno (a short read is -EIO). */
typedef int (*dsrc_read_fn)(void *ctx, uint64_t off, void *buf, size_t len);

struct dsrc {
	dsrc_read_fn read;
	void *ctx;
	uint64_t base;   /* where this range starts on the disk */
	uint64_t size;   /* its bytes */
};

/* len bytes at off of the range: -ERANGE past its end (never reads outside it), else read's. */
int dsrc_read(const struct dsrc *s, uint64_t off, void *buf, size_t len);
/* The part [off, off + size) of s (cut to s's end). */
struct dsrc dsrc_sub(const struct dsrc *s, uint64_t off, uint64_t size);

/* A struct dsrc over bytes in memory (tests, fuzzers): ctx is a struct dsrc_mem. */
struct dsrc_mem { const uint8_t *data; size_t len; };
int dsrc_mem_read(void *ctx, uint64_t off, void *buf, size_t len);
/* The whole of data as a struct dsrc, m (the caller's, living as long) filled in. */
struct dsrc dsrc_of_mem(struct dsrc_mem *m, const uint8_t *data, size_t len);

#endif
