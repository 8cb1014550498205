/* VMs made in one request, all or nothing (batch.c): the clones of a snapshot (clone.c), the
 * VMs made from an image (from_image.c). Below the verbs, beside start.c. */
#ifndef PETREL_MANAGER_BATCH_H
#define PETREL_MANAGER_BATCH_H

#include <jansson.h>
#include <stddef.h>

struct manager;
struct mgr_job;
struct mgr_vm;
struct vm_def;

/* Whether a new VM of the batch may take name: no VM has it, and its disks' directory (dir_of)
 * and its UEFI variables file, which an earlier VM of that name may have left, do not exist.
 * 0, or -EEXIST naming what is there, and that the caller may choose `instead` ("another
 * prefix"). m->lock held. */
int batch_name_free(struct manager *m, const char *name,
		    int (*dir_of)(struct manager *m, const char *name, char *out, size_t size), const char *instead,
		    char *err, size_t errlen);
/* A VM of the batch into the inventory (m->lock held): vm (zeroed) takes def, busy with job
 * until the batch ends; event "defined" with extra (taken). */
void batch_add(struct manager *m, struct mgr_vm *vm, const struct vm_def *def, const struct mgr_job *job,
	       json_t *extra);
/* Start made[0..count), two per online CPU at a time (at most 16): each from the snapshot
 * directory snapdir (start_restore, event "restored"), or booted (start_boot) when snapdir is
 * NULL. Stops at the first failure: -EIO with "WHAT 'NAME': why". */
int batch_start(struct manager *m, struct mgr_vm **made, unsigned count, const char *snapdir, const char *what,
		char *err, size_t errlen);
/* Undo made[0..n) (NULL entries skipped): each stopped, taken out of the inventory, its
 * definition, variables file and network reservations removed ("undefined"), its disks'
 * directory (dir_of: 0 and its path) removed, freed. m->lock not held. */
void batch_discard(struct manager *m, struct mgr_vm **made, unsigned n,
		   int (*dir_of)(struct manager *m, const char *name, char *out, size_t size));

#endif
