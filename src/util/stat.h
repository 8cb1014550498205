/* Statistics (the counters of Firecracker's metrics): each is counted by one thread at a time
 * (its device's, under the device's lock) and read without that lock by the metrics writer
 * (src/api/ctl_metrics.c) with stat_read. Relaxed atomic loads and stores: on x86-64 they are the
 * plain moves a `++` compiles to, but the compiler may not tear, merge or invent them, so a
 * reader sees each count whole, at worst one behind, and the access is no data race. */
#ifndef PETREL_UTIL_STAT_H
#define PETREL_UTIL_STAT_H

#include <stdint.h>

static inline void stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline uint64_t stat_read(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

#endif
