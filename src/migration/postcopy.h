/* Post-copy: the destination runs the guest before all its memory is there. Pages the source
 * still has to send (those dirtied since they last went out) are missing on the destination;
 * a userfaultfd turns the guest's first touch of one into a request to the source, which
 * answers requests first and pushes the rest meanwhile. Losing the source before the last page
 * loses the guest: the destination stops it with an error (docs/migration.md). */
#ifndef PETREL_MIGRATION_POSTCOPY_H
#define PETREL_MIGRATION_POSTCOPY_H

#include "migration/wire.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct migration;

/* Source, after PCPY and STAT went out with the guest paused (at t_pause): serve requests,
 * push every page set in needed[r], then END; returns once that is done and the destination
 * said the guest runs (*committed is set from then on: failing later loses the guest). */
int postcopy_serve(struct migration *m, int fd, struct vm *vm, uint64_t *const *needed, uint64_t t_pause,
		   bool *committed, char *err, size_t errlen);

/* Destination. */
struct postcopy_dst;
/* needed: the PCPY payload (a bitmap per region, back to back; len checked here). Drops those
 * (stale) pages, registers guest memory with a userfaultfd and starts the fault thread (which
 * sends requests on fd under wlock) and the page thread (which reads every further message on
 * fd and installs pages). */
int postcopy_dst_start(struct migration *m, struct vm *vm, int fd, pthread_mutex_t *wlock, const uint8_t *needed,
		       size_t len, struct postcopy_dst **out, char *err, size_t errlen);
/* Wait until the source sent END and the rest of memory is in: 0, or -errno (the guest is then
 * stopped: it cannot go on without its memory). */
int postcopy_dst_wait(struct postcopy_dst *p, char *err, size_t errlen);
void postcopy_dst_free(struct postcopy_dst *p);

#endif
