/* A UEFI VM's variables file (uefi_vars.c, docs/manager.md#uefi-vms): the flash contents OVMF
 * keeps its variables in (boot-source.firmware_vars_path). petreld's own is <defs dir>/NAME.vars,
 * made from OVMF's template at define time, copied by clone, removed by undefine; a path
 * elsewhere is the user's file, used as given, like a disk. */
#ifndef PETREL_MANAGER_UEFI_VARS_H
#define PETREL_MANAGER_UEFI_VARS_H

#include "manager/definition.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct manager;

#define UEFI_VARS_KEY "firmware_vars_path"
#define UEFI_VARS_BACKUP_FILE "firmware.vars" /* a backup's copy of the file */

/* A UEFI definition: boot-source.firmware "ovmf", or a firmware with a firmware_vars_path. */
bool uefi_vars_wanted(json_t *doc);
/* boot-source.firmware_vars_path of doc, or NULL. */
const char *uefi_vars_of(json_t *doc);
/* petreld's own vars file of VM name: <defs dir>/<name>.vars. 0 or -ENAMETOOLONG. */
int uefi_vars_own_path(struct manager *m, const char *name, char *out, size_t size);
/* Is path petreld's own vars file of VM name? */
bool uefi_vars_is_own(struct manager *m, const char *name, const char *path);
/* Give a definition its vars file before it is used (define, start, an arriving migration, a
 * standby): a UEFI definition without firmware_vars_path gets petreld's own path; petreld's
 * own file is made from the template when it does not exist (*created then true, else false);
 * another path in the definitions directory is refused (-EINVAL); a path elsewhere is left to
 * def_check_files (it must exist). Not UEFI: nothing. m->lock held (the definitions directory). */
int uefi_vars_prepare(struct manager *m, struct vm_def *def, bool *created, char *err, size_t errlen);
/* A new file <defs dir>/<name>.vars from src (the template, or the VM a clone is made from),
 * written whole under a temporary name, synced and linked into place: a crash leaves the file
 * whole or absent. -EEXIST if it exists already. */
int uefi_vars_create(struct manager *m, const char *name, const char *src, char *err, size_t errlen);
/* Remove VM name's own vars file (undefine, a VM that migrated away). */
void uefi_vars_remove(struct manager *m, const char *name);
/* A definition for another host (a migration's target): petreld's own path is dropped from an
 * "ovmf" VM's, the target gives the VM its own; a user's path is kept, and so is petreld's own
 * with a firmware named by its path (which is UEFI only with a vars path: the target must have
 * its definitions at the same path). doc is changed. */
void uefi_vars_for_peer(struct manager *m, const char *name, json_t *doc);

#endif
