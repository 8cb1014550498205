/* A backup chain's incremental member as a whole disk (backup_flatten.c): what a restore puts
 * back in place of the VM's disk. */
#ifndef PETREL_MANAGER_BACKUP_FLATTEN_H
#define PETREL_MANAGER_BACKUP_FLATTEN_H

#include <stddef.h>

/* The disk the qcow2 member (and the chain under it) stands for, into the new file dst, in the
 * chain's full member's format (raw or qcow2). 0, or -errno and why (dst removed). */
int backup_flatten(const char *member, const char *dst, char *err, size_t errlen);

#endif
