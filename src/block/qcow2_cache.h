/* A small write-through cache of qcow2 metadata clusters (L2 tables, refcount blocks):
 * least recently used entry evicted; whoever changes an entry also writes it to the file. */
#ifndef PETREL_BLOCK_QCOW2_CACHE_H
#define PETREL_BLOCK_QCOW2_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct qcow2_cache_entry {
	uint64_t off;       /* file offset of the cluster; 0: empty slot */
	uint64_t used;      /* last use (LRU clock) */
	uint8_t *data;
};

struct qcow2_cache {
	unsigned n;
	size_t size;        /* bytes per entry: one cluster */
	uint64_t clock, hits, misses;
	struct qcow2_cache_entry *e;
};

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, size_t size);
void qcow2_cache_free(struct qcow2_cache *c);
/* The cluster at off, read from fd on a miss (a short read is -EIO), or all zeroes with
 * fresh (a table just allocated). NULL with *err set on failure. */
uint8_t *qcow2_cache_get(struct qcow2_cache *c, int fd, uint64_t off, int fresh, int *err);
/* The cluster at off if it is cached, else NULL (nothing is read). */
uint8_t *qcow2_cache_peek(struct qcow2_cache *c, uint64_t off);
/* Forget the cluster at off (it was freed). */
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);

#endif
