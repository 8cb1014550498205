/* The one way petrel starts a thread (docs/security.md#seccomp). */
#ifndef PETREL_UTIL_THREAD_H
#define PETREL_UTIL_THREAD_H

#include "util/thread_kind.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

/* Start fn(arg) as a thread of seccomp kind `kind` (enum sc_kind, util/thread_kind.h)
 * named `name` (at most 15 characters kept), with every signal blocked but SIGSYS and the
 * faults and SIGPIPE (util/proc_metrics.h counts them): signals are the console's
 * (signalfd); vCPU threads unblock their kick signal themselves.
 * Returns once the thread runs under its kind's filter (when seccomp is on), before fn runs:
 * 0, or -errno and no thread. With seccomp on, the thread is created by the spawner thread,
 * whose filter is the union of all kinds', so that the new thread's own filter is exactly its
 * kind's list whoever asked for it. The caller joins the thread as usual. */
int thread_start(pthread_t *t, int kind, const char *name, void *(*fn)(void *), void *arg);

/* thread_start on the host CPUs `cpus` (NULL: not pinned), set by the new thread itself
 * before its filter and fn. thread_start uses its kind's set from the process's placement
 * (util/affinity.h); vm_start gives each vCPU its own. */
int thread_start_on(pthread_t *t, int kind, const char *name, const cpu_set_t *cpus,
		    void *(*fn)(void *), void *arg);

/* Move the spawner (which exists before any placement is known) to cpus: it sleeps, but its
 * mask should say where petrel's VMM threads run. 0 when there is none; -errno. */
int thread_spawner_pin(const cpu_set_t *cpus);

/* The spawner (seccomp_start() calls it once, with its seccomp_enter): from then on every new
 * thread calls enter(its kind) before anything else, and is created by the spawner; with
 * creator_keeps_filter, the caller's filter stays the spawner's (it adds none of its own), the
 * threads the caller starts it creates itself, without the hop, and the spawner thread is made
 * when first needed: before the caller's first thread, or (thread_spawner_serve_begin) at
 * another thread's first request. Before it (and with seccomp off) threads start unfiltered,
 * from their creator. util knows no seccomp: the filter comes from the layer above. 0 or
 * -errno. */
int thread_spawner_start(int (*enter)(int kind), bool creator_keeps_filter);
/* The creator (the caller of thread_spawner_start, before its first thread) makes the spawner
 * only if another thread asks for a thread: it watches thread_spawner_wanted_fd() and calls
 * thread_spawner_serve() when it is readable, until thread_spawner_serve_end(). Meanwhile
 * the creator must never wait for another thread in a way that thread could be waiting
 * for it: a thread asking for one waits until the creator serves it. After serve_end a request
 * that no spawner serves fails with -ECANCELED (the process is ending), and the creator's own
 * next thread makes the spawner first, as where it never served. `petrel run` does
 * this from its console loop: a VM that never resets, asks for no thread after its start
 * (PVM's idle kicker, 20 ms in) and ends, never pays for the spawner. No-op (0) where there
 * is nothing to defer; -errno. */
int thread_spawner_serve_begin(void);
/* -1 when the creator is not serving (nothing deferred, or after serve_end) */
int thread_spawner_wanted_fd(void);
int thread_spawner_serve(void);
void thread_spawner_serve_end(void);
#endif
