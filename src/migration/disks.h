/* migrate_disks (disks.c): drives copied with the VM. */
#ifndef PETREL_MIGRATION_DISKS_H
#define PETREL_MIGRATION_DISKS_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct mig_hdr;

/* Source: start marking writes, send each drive's size and data extents. */
int mig_disks_start(struct vm *vm, int fd, uint64_t *sent, char *err, size_t errlen);
/* Source: the chunks written since the last call. */
int mig_disks_send_dirty(struct vm *vm, int fd, uint64_t *sent, char *err, size_t errlen);
/* Source: stop marking (the migration ended either way). */
void mig_disks_stop(struct vm *vm);
/* Destination: a MIG_DISK message whose header is h, into the drive's image. *sized: the
 * drives whose size message came (bit i: drive i); data for any other is refused. */
int mig_disks_receive(struct vm *vm, int fd, const struct mig_hdr *h, uint32_t *sized, uint64_t *received, char *err,
		      size_t errlen);

/* Shared storage: the drives' images are the same files on both sides, and only the side that
 * runs the guest holds their write locks (block/disk.h). The destination (and a standby) opens
 * them unlocked (mig_disks_defer_locks on the definition, before building); the source lets go
 * of its locks once its guest is paused for good (mig_disks_unlock) and takes them back if the
 * migration fails after all; the destination takes them just before it runs the guest.
 * mig_disks_lock tries every 5 ms for up to wait_ms (another process may be letting go of
 * them): 0, or -EBUSY with err naming a drive still locked elsewhere (nothing taken then). */
struct vm_config;
void mig_disks_defer_locks(struct vm_config *cfg);
void mig_disks_unlock(struct vm *vm);
int mig_disks_lock(struct vm *vm, unsigned wait_ms, char *err, size_t errlen);
/* The source, while the guest still runs, just before its pause: each writable image synced,
 * so that the sync of the hand-over (mig_disks_unlock), in the downtime, finds little left. */
void mig_disks_sync_ahead(struct vm *vm);
/* The destination or a standby taking the drives to run the guest: mig_disks_lock, then each
 * qcow2 image opened again, since the other side allocated clusters in it (tables, refcounts)
 * after this side first opened it (the source's mig_disks_unlock made it complete:
 * disk_handover). 0 or -errno with err. */
int mig_disks_take(struct vm *vm, unsigned wait_ms, char *err, size_t errlen);

/* Replication: a checkpoint's disk changes, read while the guest is paused (primary) or
 * received (standby), and sent or applied later. */
struct disk_chunk {
	uint32_t drive;
	uint64_t off, len;
	size_t at;                 /* in data */
};
struct disk_stage {
	uint8_t *data;
	size_t len, cap;
	struct disk_chunk *c;
	size_t n, ncap;
};
/* Primary, guest paused: the chunks written since the last call, read into s. */
int mig_disks_stage(struct vm *vm, struct disk_stage *s);
int mig_disks_send_stage(int fd, const struct disk_stage *s, uint64_t *sent);
/* Standby: a MIG_DISK message of a checkpoint, checked (a drive sized in the initial sync;
 * no more data in all than the drives hold) and staged; applied at commit. A silence of
 * timeout_ms within it, or its end, is the sender gone (-ETIMEDOUT, -ECONNRESET). */
int mig_disks_receive_staged(struct vm *vm, int fd, const struct mig_hdr *h, uint32_t sized, struct disk_stage *s,
			     int timeout_ms, char *err, size_t errlen);
int mig_disks_apply(struct vm *vm, const struct disk_stage *s, char *err, size_t errlen);
void mig_disks_stage_reset(struct disk_stage *s);
void mig_disks_stage_free(struct disk_stage *s);

#endif
