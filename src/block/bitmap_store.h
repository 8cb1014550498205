/* A disk's persistent backup bitmap (docs/snapshots.md#incremental-backups): which 64 KiB
 * chunks the guest wrote since the last backup, kept across runs of the worker. A qcow2 v3
 * image keeps it in qcow2's own bitmaps extension (qcow2_bitmap.c: `qemu-img info` lists it);
 * any other disk in a sidecar file `<disk>.petrel-bitmap` (magic, version, granularity, disk
 * size, in-use flag, generation, chain id, the bits, a CRC-32 over it all).
 *
 * The bitmap is marked in use when the worker opens the disk for writing and written back
 * clean only at a clean close: a bitmap found in use (the worker crashed or was killed), or
 * one whose size, granularity, CRC or structure does not match, is stale: never trusted, the
 * next backup is full and says why. */
#ifndef PETREL_BLOCK_BITMAP_STORE_H
#define PETREL_BLOCK_BITMAP_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BACKUP_BITMAP_GRANULARITY (64u << 10)   /* BLK_DIRTY_CHUNK */
#define BACKUP_BITMAP_GRAN_BITS 16
#define BACKUP_BITMAP_NAME "petrel-backup"     /* the qcow2 bitmap's name; ":<chain_id>" follows */
#define BACKUP_CHAIN_ID_MAX 255
#define BITMAP_SIDECAR_SUFFIX ".petrel-bitmap"
#define BITMAP_SIDECAR_MAGIC "PTRLBMP1"
#define BITMAP_SIDECAR_VERSION 1u
#define BITMAP_SIDECAR_HEADER 304u                /* bytes before the bits */

/* What was found on disk for one drive. */
struct backup_bitmap {
	uint64_t disk_size;
	uint64_t nbits;               /* ceil(disk_size / granularity) */
	uint64_t *bits;               /* BITMAP_WORDS(nbits) words; NULL when stale */
	char chain_id[BACKUP_CHAIN_ID_MAX + 1];
	uint64_t generation;          /* backups taken in the chain (sidecar; 0 in qcow2) */
	bool in_use;                  /* as read (the parsers report it; load turns it into stale) */
	bool stale;                   /* not to be trusted: the next backup is full */
	char why[256];                /* stale: why, for the API's answer and the log */
};

static inline uint64_t backup_bitmap_nbits(uint64_t disk_size)
{
	return (disk_size + BACKUP_BITMAP_GRANULARITY - 1) / BACKUP_BITMAP_GRANULARITY;
}

void backup_bitmap_free(struct backup_bitmap *b);
/* Mark b stale with a reason (printf-style); its bits are dropped. */
void backup_bitmap_set_stale(struct backup_bitmap *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the sidecar's encoding (bitmap_store.c) ---- */

/* Parse a sidecar of len bytes for a disk of disk_size bytes: 0 with out filled (bits
 * allocated; in_use as read), or -EINVAL / -ENOMEM with why in err. */
int bitmap_sidecar_parse(const uint8_t *buf, size_t len, uint64_t disk_size, struct backup_bitmap *out,
			 char *err, size_t errlen);
/* Encode b with bits (b->nbits of them) and in_use: a malloc'd buffer of *len bytes, or NULL. */
uint8_t *bitmap_sidecar_build(const struct backup_bitmap *b, const uint64_t *bits, bool in_use, size_t *len);

/* ---- one drive's bitmap on disk ---- */

/* Read the bitmap of the image at path (disk_size guest bytes) before the image is opened
 * for writing, and mark it in use on disk. Never fails short of memory: whatever is wrong
 * makes out stale with the reason (logged). *qcow2_ext: the image keeps it in its qcow2
 * extension (written back with qcow2_bitmap_store), else in the sidecar. 0 or -ENOMEM. */
int bitmap_store_load(const char *path, uint64_t disk_size, struct backup_bitmap *out, bool *qcow2_ext);
/* Write the sidecar of the disk at path: b's metadata with bits, clean (not in use) or in
 * use; atomically (a new file renamed over the old) and synced. 0 or -errno with err. */
int bitmap_store_save_sidecar(const char *path, const struct backup_bitmap *b, const uint64_t *bits, bool in_use,
			      char *err, size_t errlen);

#endif
