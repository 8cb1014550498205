/* The one way petrel starts a thread (docs/security.md#seccomp). */
#ifndef PETREL_UTIL_THREAD_H
#define PETREL_UTIL_THREAD_H

#include "seccomp/seccomp.h"

#include <pthread.h>

/* Start fn(arg) as a thread of seccomp kind `kind` (enum sc_kind, src/seccomp/seccomp.h)
 * named `name` (at most 15 characters kept), with every signal blocked but SIGSYS: signals
 * are the console's (signalfd); vCPU threads unblock their kick signal themselves.
 * Returns once the thread runs under its kind's filter (when seccomp is on), before fn runs:
 * 0, or -errno and no thread. With seccomp on, the thread is created by the spawner thread,
 * whose filter is the union of all kinds', so that the new thread's own filter is exactly its
 * kind's list whoever asked for it. The caller joins the thread as usual. */
int thread_start(pthread_t *t, int kind, const char *name, void *(*fn)(void *), void *arg);

/* Run fn(arg) on a thread of `kind` and wait for it: *ret gets its result. For work whose
 * own threads must be born under kind's filter (the API server's). 0 or -errno. */
int thread_run_as(int kind, const char *name, void *(*fn)(void *), void *arg, void **ret);

/* The spawner (seccomp_start() calls it once). 0 or -errno. */
int thread_spawner_start(void);

#endif
