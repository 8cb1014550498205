/* The jobs (jobs.c): one table of petreld's verbs (name, the states each may begin in, the
 * function that runs it, the event that announces it), begun on a VM under m->lock and run on
 * a thread of their own, the VM busy meanwhile, so the API never waits on a guest. */
#ifndef PETREL_MANAGER_JOBS_H
#define PETREL_MANAGER_JOBS_H

#include "manager/job.h"

#include <stddef.h>

/* A new job of verb for vm, its arguments zero, or NULL (out of memory). */
struct mgr_job *mgr_job_new(struct manager *m, struct mgr_vm *vm, enum mgr_verb verb);
/* Free a job that was not started (jobs_start frees the ones it ran), with its arguments. */
void mgr_job_free(struct mgr_job *j);
/* Check that the job's verb may begin in the VM's state and mark the VM busy with it (m->lock
 * held): 0, or -EBUSY with the reason. */
int jobs_begin(struct mgr_job *j, char *err, size_t errlen);
/* Run a begun job on a thread of its own; done gets the answer (the VM, or the verb's own, or
 * the fault "VERB: why"). 0, or -errno (no thread: the caller ends the job). */
int jobs_start(struct mgr_job *j, api_done_fn done, void *opaque);
/* End a begun job that did not start (m->lock held). */
void jobs_abandon(struct mgr_job *j);

#endif
