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
/* Destination: a MIG_DISK message whose header is h, into the drive's image. */
int mig_disks_receive(struct vm *vm, int fd, const struct mig_hdr *h, uint64_t *received, char *err, size_t errlen);

#endif
