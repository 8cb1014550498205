/* Members of a backup chain (backup_member.c): an incremental member written from a drive's
 * taken marks, a member file's SHA-256 and its allocated bytes. */
#ifndef PETREL_SNAPSHOT_BACKUP_MEMBER_H
#define PETREL_SNAPSHOT_BACKUP_MEMBER_H

#include <stddef.h>
#include <stdint.h>

struct virtio_blk;
struct blk_backup_take;

/* A new qcow2 file at path (replacing one there), backed by backing (relative to path's
 * directory), the drive's size, holding the chunks t marks as the drive has them now (the
 * guest paused), and its SHA-256 as 64 hex digits, of the bytes as written. Synced. 0 or
 * -errno with err. */
int backup_member_incremental(struct virtio_blk *b, const char *path, const char *backing,
			      const struct blk_backup_take *t, char sha256[65], char *err, size_t errlen);
/* The SHA-256 of the file at path as 64 hex digits. 0 or -errno with err. */
int backup_member_sha256(const char *path, char hex[65], char *err, size_t errlen);
/* The bytes the file at path occupies (its allocated blocks); 0 if it cannot be read. */
uint64_t backup_member_allocated(const char *path);

#endif
