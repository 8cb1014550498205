/* Bitmaps in 64-bit words: dirty pages, pages present or done, dirty chunks of a disk. One
 * bit per item, item i at bit i % 64 of word i / 64 (KVM's dirty log has the same layout, so
 * its bitmaps are read with these too). The _atomic forms are for words another thread sets
 * or reads at the same time. */
#ifndef PETREL_UTIL_BITMAP_H
#define PETREL_UTIL_BITMAP_H

#include <stdbool.h>
#include <stdint.h>

/* Words for n bits. */
#define BITMAP_WORDS(n) (((n) + 63) / 64)

static inline bool bitmap_test(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static inline bool bitmap_test_atomic(const uint64_t *b, uint64_t i)
{
	return __atomic_load_n(&b[i / 64], __ATOMIC_ACQUIRE) >> (i % 64) & 1;
}

static inline void bitmap_set(uint64_t *b, uint64_t i)
{
	b[i / 64] |= 1ull << (i % 64);
}

static inline void bitmap_clear(uint64_t *b, uint64_t i)
{
	b[i / 64] &= ~(1ull << (i % 64));
}

/* Set bit i for readers on other threads: release (what the bit says was written before). */
static inline void bitmap_set_atomic(uint64_t *b, uint64_t i)
{
	__atomic_fetch_or(&b[i / 64], 1ull << (i % 64), __ATOMIC_RELEASE);
}

/* Bits [i, i + n). */
static inline void bitmap_set_range(uint64_t *b, uint64_t i, uint64_t n)
{
	for (uint64_t k = i; k < i + n; k++)
		bitmap_set(b, k);
}

#endif
