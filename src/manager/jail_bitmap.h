/* A raw disk's backup bitmap sidecar (PATH.petrel-bitmap) across a jailed worker's life
 * (jail_bitmap.c). */
#ifndef PETREL_MANAGER_JAIL_BITMAP_H
#define PETREL_MANAGER_JAIL_BITMAP_H

struct mgr_vm;

/* At the start: the host's sidecar of the disk path moved into the jail's root beside its
 * /vm/JAIL_NAME, and the drive listed for jail_bitmaps_out. 0 or -errno. */
int jail_bitmap_in(struct mgr_vm *vm, const char *root, const char *jail_name, const char *path);
/* At the worker's end, before the jail is removed: every sidecar it left moved back out. */
void jail_bitmaps_out(const char *jail_dir);

#endif
