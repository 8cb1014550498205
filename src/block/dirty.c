#include "block/dirty.h"
#include "util/bitmap.h"

#include <stdlib.h>

struct blk_dirty *blk_dirty_new(uint64_t bytes)
{
	struct blk_dirty *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->nchunks = (bytes + BLK_DIRTY_CHUNK - 1) / BLK_DIRTY_CHUNK;
	if (!(d->bits = calloc(BITMAP_WORDS(d->nchunks) + 1, 8))) {
		free(d);
		return NULL;
	}
	return d;
}

void blk_dirty_free(struct blk_dirty *d)
{
	if (d)
		free(d->bits);
	free(d);
}

void blk_dirty_enable(struct blk_dirty *d, bool on)
{
	__atomic_store_n(&d->on, on, __ATOMIC_RELEASE);
}

void blk_dirty_mark(struct blk_dirty *d, uint64_t off, uint64_t len)
{
	if (!d || !len || !__atomic_load_n(&d->on, __ATOMIC_ACQUIRE))
		return;
	uint64_t first = off / BLK_DIRTY_CHUNK, last = (off + len - 1) / BLK_DIRTY_CHUNK;
	for (uint64_t c = first; c <= last && c < d->nchunks; c++)
		bitmap_set_atomic(d->bits, c);
}

uint64_t blk_dirty_take(struct blk_dirty *d, uint64_t *out)
{
	uint64_t n = 0;
	for (uint64_t w = 0; w < BITMAP_WORDS(d->nchunks); w++) {
		out[w] = __atomic_exchange_n(&d->bits[w], 0, __ATOMIC_ACQ_REL);
		n += (uint64_t)__builtin_popcountll(out[w]);
	}
	return n;
}
