/* The inventory's definitions (definitions.c): a VM's definition read from the definitions
 * directory and checked, and written back. */
#ifndef PETREL_MANAGER_DEFINITIONS_H
#define PETREL_MANAGER_DEFINITIONS_H

#include "manager/definition.h"

/* Read and check <defs dir>/<name>.json (its petrel.name must be name). */
int mgr_load_definition(struct manager *m, const char *name, struct vm_def *def, char *err, size_t errlen);
/* The definition's files ready for a use of it (define, start, an arriving migration, a
 * standby): a UEFI VM's variables file given and made (uefi_vars_prepare: *vars_made when it was
 * made now), then every file checked (def_check_files); a variables file made here is removed
 * again when a check fails. m->lock held. */
int mgr_def_files_ready(struct manager *m, struct vm_def *def, bool *vars_made, char *err, size_t errlen);
/* Write def's document as <defs dir>/<name>.json, atomically. */
int save_definition(struct manager *m, const struct vm_def *def, char *err, size_t errlen);

#endif
