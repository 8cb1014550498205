/* Which parts of a disk the guest wrote since the last look (live migration copying disks,
 * replication mirroring them): a bit per 64 KiB chunk, set by virtio-blk for writes,
 * discards and write-zeroes — when a write is submitted and again when it completes, so a
 * chunk taken while a write was in flight comes round again. */
#ifndef PETREL_BLOCK_DIRTY_H
#define PETREL_BLOCK_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#define BLK_DIRTY_CHUNK (64u << 10)

struct blk_dirty {
	bool on;            /* atomic: marking or not */
	uint64_t nchunks;
	uint64_t *bits;
};

/* Storage for a disk of `bytes` (not marking yet). NULL if out of memory. */
struct blk_dirty *blk_dirty_new(uint64_t bytes);
void blk_dirty_free(struct blk_dirty *d);
/* Start or stop marking (the storage stays: a device thread may be marking right now). */
void blk_dirty_enable(struct blk_dirty *d, bool on);
void blk_dirty_mark(struct blk_dirty *d, uint64_t off, uint64_t len);
/* The marks into out (nchunks bits, overwritten) and cleared; how many were set. */
uint64_t blk_dirty_take(struct blk_dirty *d, uint64_t *out);

#endif
