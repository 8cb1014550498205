/* The qcow2 driver's insides, shared by qcow2.c (mapping, reads, writes) and qcow2_alloc.c
 * (refcounts and cluster allocation). */
#ifndef PETREL_BLOCK_QCOW2_INT_H
#define PETREL_BLOCK_QCOW2_INT_H

#include "block/qcow2.h"
#include "block/qcow2_cache.h"
#include "block/qcow2_format.h"
#include "block/raw.h"

#include <pthread.h>

struct qcow2 {
	/* Guest requests (I/O thread) and disk copies (migration, replication threads) may come
	 * at once: one request at a time inside (caches, reservation and scratch buffers). */
	pthread_mutex_t lock;
	struct raw_file *f;
	int fd;
	struct qcow2_header h;
	bool read_only;
	uint64_t cs;                 /* cluster size */
	unsigned cbits, l2_bits;
	uint64_t *l1;                /* host byte order */
	uint64_t *rt;                /* refcount table: refcount block offsets, host order */
	uint64_t rt_entries, rt_off;
	bool rt_pending;             /* a new refcount table is being built: entries stay in memory */
	unsigned rc_bits;            /* refcount width */
	uint64_t rb_entries;         /* refcounts per block */
	uint64_t rc_max;
	struct qcow2_cache l2c, rbc;
	struct disk *backing;        /* NULL: unallocated clusters read as zeroes */
	uint64_t file_size;
	uint64_t end;                /* every cluster from here on is free */
	uint64_t res_next, res_end;  /* clusters whose refcount is already 1, not yet used */
	uint64_t reserve_bytes;      /* size of the last run reserved */
	uint8_t *buf;                /* one cluster: copy-on-write */
	uint8_t *zin, *zout;         /* compressed clusters: input (2 clusters) and output */
	uint64_t zcached;            /* descriptor of the cluster in zout; 0: none */
	struct qcow2_stats stats;
};

/* Refcounts (qcow2_alloc.c). */
int qcow2_refcount_get(struct qcow2 *q, uint64_t cluster, uint64_t *out);
int qcow2_refcount_set(struct qcow2 *q, uint64_t cluster, uint64_t v);
/* Drop one reference to each cluster of [off, off+len); a cluster left unreferenced is
 * punched out of the file. */
int qcow2_unref(struct qcow2 *q, uint64_t off, uint64_t len);
/* A free cluster with refcount 1, for data or a table. */
int qcow2_alloc_cluster(struct qcow2 *q, uint64_t *off);
/* Scan the refcounts for the end of the used area (at open). */
int qcow2_find_end(struct qcow2 *q);
/* Return the reserved, unused clusters (at close). */
void qcow2_release_reserved(struct qcow2 *q);

int qcow2_pwrite(struct qcow2 *q, const void *buf, size_t len, uint64_t off);

#endif
