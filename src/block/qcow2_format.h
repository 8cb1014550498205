/* qcow2's on-disk format (versions 2 and 3, as qemu's docs/interop/qcow2.txt describes it):
 * the header, its extensions, and the bits of table entries. Everything here is read from a
 * file petrel did not write, so the parser checks every field against the file it came from. */
#ifndef PETREL_BLOCK_QCOW2_FORMAT_H
#define PETREL_BLOCK_QCOW2_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define QCOW2_MAGIC 0x514649fbu           /* "QFI\xfb" */
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_MAX_L1_BYTES (32u << 20)    /* qemu's limits: larger tables are not images it makes */
#define QCOW2_MAX_REFTABLE_BYTES (8u << 20)
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_SIZE (1ull << 56)       /* virtual size: host offsets have 56 bits */

/* Header field offsets petrel rewrites. */
#define QCOW2_OFF_REFTABLE 48             /* refcount_table_offset (8) + refcount_table_clusters (4) */
#define QCOW2_OFF_AUTOCLEAR 88

/* Feature bits. */
#define QCOW2_INCOMPAT_DIRTY (1ull << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ull << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ull << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ull << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ull << 4)

/* Header extensions. */
#define QCOW2_EXT_END 0
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau

/* Table entries. */
#define QCOW2_OFLAG_COPIED (1ull << 63)   /* refcount is exactly 1: writable in place */
#define QCOW2_OFLAG_COMPRESSED (1ull << 62)
#define QCOW2_OFLAG_ZERO 1ull             /* v3: the cluster reads as zeroes */
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ull
#define QCOW2_L2E_RESERVED 0x3f000000000001feull /* must be 0 in a standard L2 entry */
#define QCOW2_REFT_OFFSET_MASK 0xfffffffffffffe00ull

struct qcow2_header {
	uint32_t version;                 /* 2 or 3 */
	uint32_t cluster_bits;
	uint64_t size;                    /* virtual disk size, bytes */
	uint32_t l1_size;                 /* entries */
	uint64_t l1_table_offset;
	uint64_t refcount_table_offset;
	uint32_t refcount_table_clusters;
	uint32_t nb_snapshots;            /* internal snapshots */
	uint64_t incompatible, compatible, autoclear;
	uint32_t refcount_order;          /* refcounts are 1 << refcount_order bits wide */
	uint32_t header_length;
	char backing_file[QCOW2_MAX_BACKING_NAME + 1];  /* "" without a backing file */
	char backing_format[32];          /* from the backing-format extension; "" if absent */
};

/* Parse and check the header in buf (the file's first cluster, or all of a smaller file)
 * of a file of file_size bytes. 0, or -EINVAL / -ENOTSUP with a message in err. */
int qcow2_header_parse(const uint8_t *buf, size_t len, uint64_t file_size, struct qcow2_header *h,
		       char *err, size_t errlen);

/* True if buf starts with qcow2's magic (format probing). */
int qcow2_probe(const uint8_t *buf, size_t len);

static inline uint64_t qcow2_be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | b[i];
	return v;
}

static inline uint32_t qcow2_be32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline void qcow2_put_be64(void *p, uint64_t v)
{
	uint8_t *b = p;
	for (int i = 7; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

static inline void qcow2_put_be32(void *p, uint32_t v)
{
	uint8_t *b = p;
	for (int i = 3; i >= 0; i--, v >>= 8)
		b[i] = (uint8_t)v;
}

#endif
