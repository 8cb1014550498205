/* Starting a VM's worker for the verbs (start.c): below the verbs, above the worker. */
#ifndef PETREL_MANAGER_START_H
#define PETREL_MANAGER_START_H

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* Boot vm from its definition (read again: an edit by hand takes effect if it is valid); event
 * "started", or "restarted" (restart: the restart policy's, counted). 0 or -errno with err. */
int start_boot(struct manager *m, struct mgr_vm *vm, bool restart, char *err, size_t errlen);
/* Start vm from the snapshot directory dir (vm.state, vm.mem: a snapshot, a backup) on the
 * definition's disks and taps; event names the event ("reverted", "restored"). */
int start_restore(struct manager *m, struct mgr_vm *vm, const char *dir, const char *event, char *err,
		  size_t errlen);

#endif
