/* <state>/run/<name>.json, what a later petreld re-adopts (runstate.c). */
#ifndef PETREL_MANAGER_RUNSTATE_H
#define PETREL_MANAGER_RUNSTATE_H

struct manager;
struct mgr_vm;

int runstate_save(struct manager *m, struct mgr_vm *vm);
void runstate_remove(struct manager *m, const char *name);
/* Re-adopt vm's worker if its run state names a live one (pid + start time): 1 adopted,
 * 0 none (no state), -ESRCH: it was running and died while petreld was away. The state is the
 * saved one until the worker is asked (adopt.c does that for all of them, in the background). */
int runstate_adopt(struct manager *m, struct mgr_vm *vm);
/* The state a worker's API socket says (GET /): VM_RUNNING or VM_PAUSED, or -errno. */
int runstate_ask(struct manager *m, const char *sock);

#endif
