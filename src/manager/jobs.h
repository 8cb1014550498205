/* The verbs a VM runs on a thread of its own, the VM marked busy (lifecycle.c): begin (check
 * the VM's state, mark it), run, answer through done. */
#ifndef PETREL_MANAGER_JOBS_H
#define PETREL_MANAGER_JOBS_H

#include "api/router.h"

#include <stddef.h>

struct manager;
struct mgr_vm;

int lifecycle_begin(struct manager *m, struct mgr_vm *vm, const char *verb, char *err, size_t errlen);
void lifecycle_autostart(struct manager *m);
/* Run verb for vm synchronously (the VM is marked busy by the caller). */
int lifecycle_run(struct manager *m, struct mgr_vm *vm, const char *verb, char *err, size_t errlen);
/* Start vm's worker from the snapshot directory dir (a revert). */
int lifecycle_restore(struct manager *m, struct mgr_vm *vm, const char *dir, char *err, size_t errlen);
/* Run verb on a thread of its own; done gets the answer. 0 or -errno. */
int lifecycle_async(struct manager *m, struct mgr_vm *vm, const char *verb, api_done_fn done, void *opaque);

#endif
