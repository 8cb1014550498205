/* A VM's worker process (worker.c): started (through the jailer), waited for, killed, cleaned
 * up. Below the verbs: what it starts is described by the caller (start.c). */
#ifndef PETREL_MANAGER_WORKER_H
#define PETREL_MANAGER_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* Start vm's worker and boot the VM, or with restore (a snapshot directory, snapshot.c) load
 * that snapshot into it. */
int worker_start(struct manager *m, struct mgr_vm *vm, const char *restore, char *err, size_t errlen);
/* ... or with receive, the body of the worker's PUT /migration/receive (migrate_in.c). */
int worker_start_as(struct manager *m, struct mgr_vm *vm, const char *restore, json_t *receive, char *err,
		    size_t errlen);
/* The worker up, its API answering, its jail filled; *fc: the definition's Firecracker part
 * with the worker's paths (the caller frees it). On failure it is killed. */
int worker_launch(struct manager *m, struct mgr_vm *vm, const char *restore, json_t **fc, char *err, size_t errlen);
/* Kill the worker (SIGKILL), wait for its end and clean its jail, cgroups and files up. */
void worker_kill(struct manager *m, struct mgr_vm *vm);
/* After the worker has ended: remove its jail, cgroups and run state. */
void worker_cleanup(struct manager *m, struct mgr_vm *vm);
/* Wait up to ms for the supervisor to see the worker end (vm->pid back to 0). */
bool worker_wait_end(struct manager *m, struct mgr_vm *vm, unsigned ms);
/* Where the worker writes its events (docs/events.md, --event-monitor): a file only petrel
 * writes, unlike its log, which the guest's console shares (migrate.c takes a migration's
 * figures from it). In the jail, or <state>/sock/<name>.events without one. */
void worker_events_path(struct manager *m, const struct mgr_vm *vm, char *out, size_t size);

#endif
