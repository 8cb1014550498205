/* What a new qcow2 image's first cluster holds, shared by the two ways petrel makes one:
 * qcow2_create.c (an empty overlay) and qcow2_stream.c (an image written front to back). */
#ifndef PETREL_BLOCK_QCOW2_LAYOUT_H
#define PETREL_BLOCK_QCOW2_LAYOUT_H

#include "block/qcow2.h"
#include "block/qcow2_format.h"

#include <stddef.h>
#include <stdint.h>

#define QCOW2_NEW_CBITS 16            /* 64 KiB clusters, qemu-img's default */
#define QCOW2_NEW_REFCOUNT_ORDER 4    /* 16-bit refcounts, qemu-img's default */
/* The header, the backing-format extension, the end marker and the backing file name. */
#define QCOW2_NEW_HEADER_MAX (QCOW2_V3_HEADER_LEN + 16 + 16 + 8 + QCOW2_MAX_BACKING_NAME)

struct qcow2_new_layout {
	uint64_t size;                /* virtual bytes */
	uint32_t l1_size;             /* entries */
	uint64_t l1_off, rt_off;      /* the L1 table's and the refcount table's file offsets */
	uint32_t rt_clusters;
};

/* The new image's backing file (o->backing, relative to path's directory when relative): its
 * format into fmt (probed unless o->backing_format says) and, when o->size is 0, its size into
 * *size (else o->size). Without a backing file: fmt "" and o->size. 0 or -errno with err. */
int qcow2_new_backing(const char *path, const struct qcow2_create_opts *o, char *fmt, size_t fmtlen,
		      uint64_t *size, char *err, size_t errlen);
/* The L1 entries a virtual size needs (64 KiB clusters); 0 if the size is 0 or over the limits,
 * with err. */
uint32_t qcow2_new_l1_size(uint64_t size, char *err, size_t errlen);
/* The header into hdr (QCOW2_NEW_HEADER_MAX bytes, zeroed by the caller): its length. */
size_t qcow2_new_header(uint8_t *hdr, const struct qcow2_new_layout *l, const char *backing, const char *fmt);

#endif
