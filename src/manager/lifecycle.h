/* The lifecycle verbs beyond a start (lifecycle.c), run as jobs (jobs.c). */
#ifndef PETREL_MANAGER_LIFECYCLE_H
#define PETREL_MANAGER_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* Ctrl-Alt-Del, then destroy after m->shutdown_timeout_s (or at once when the worker does not
 * take it). Always 0: the VM is down. */
int lifecycle_shutdown(struct manager *m, struct mgr_vm *vm, char *err, size_t errlen);
/* Shut down, then start again from the definition. */
int lifecycle_reboot(struct manager *m, struct mgr_vm *vm, char *err, size_t errlen);
/* Pause (pause) or resume the guest: its state and run state follow. */
int lifecycle_pause(struct manager *m, struct mgr_vm *vm, bool pause, char *err, size_t errlen);

#endif
