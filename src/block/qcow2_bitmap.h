/* qcow2's persistent bitmaps (QEMU's docs/interop/qcow2.txt, "Bitmaps extension", header
 * extension 0x23852875, autoclear bit 0): the bitmap directory, each bitmap's one-level table
 * and its data clusters. petrel keeps one dirty-tracking bitmap, BACKUP_BITMAP_NAME (with
 * ":<chain_id>" when the chain has an id), granularity 64 KiB, so `qemu-img info` lists it and
 * QEMU can read it. Other bitmaps an image holds are dropped when petrel writes its own: the
 * image was written by petrel, which does not keep them, so they are stale anyway. */
#ifndef PETREL_BLOCK_QCOW2_BITMAP_H
#define PETREL_BLOCK_QCOW2_BITMAP_H

#include "block/bitmap_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_AUTOCLEAR_BITMAPS (1ull << 0)
#define QCOW2_BME_IN_USE (1u << 0)
#define QCOW2_BME_AUTO (1u << 1)
#define QCOW2_BME_TYPE_DIRTY 1
#define QCOW2_BME_MAX_NAME 1023
#define QCOW2_BM_MAX_DIR (64u << 20)         /* QEMU's limit on the directory */
#define QCOW2_BM_MAX_BITMAPS 65535u
#define QCOW2_BMT_RESERVED 0xff000000000001feull /* must be 0 in a bitmap table entry */

/* Where the reader gets the file's bytes: a file (pread) or a buffer (the fuzz target). */
struct qcow2_bm_src {
	int (*read)(void *ctx, void *buf, size_t len, uint64_t off); /* 0, or -errno (-EIO: short) */
	void *ctx;
	uint64_t file_size;
};

/* petrel's bitmap in the image, for a disk of disk_size bytes: 0 with out filled (bits
 * allocated, chain id, in_use as the directory says), or stale with why: no bitmap, the
 * extension inconsistent (autoclear bit clear), a structure or size that does not match.
 * *dir_flags_off: where its flags are in the file (to mark it in use); 0 if none. 0 or
 * -ENOMEM; anything else wrong is out->stale. */
/* A qcow2_bm_src's read over a file descriptor (ctx: an int *). */
int qcow2_bm_fd_read(void *ctx, void *buf, size_t len, uint64_t off);

int qcow2_bitmap_read(const struct qcow2_bm_src *src, uint64_t disk_size, struct backup_bitmap *out,
		      uint64_t *dir_flags_off);

struct qcow2;
/* Write bits (nbits, granularity 64 KiB) as petrel's bitmap named for chain_id into the open,
 * writable image: new table, data and directory clusters synced, then the header's extension
 * and autoclear bit, then the old bitmaps' clusters let go. 0 or -errno with err. */
int qcow2_bitmap_store(struct qcow2 *q, const char *chain_id, const uint64_t *bits, uint64_t nbits, char *err,
		       size_t errlen);

#endif
