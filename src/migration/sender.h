/* The source side's pieces (send.c), shared with replication's primary (src/ha): a stream
 * opened with the definition, pre-copy rounds, dirty pages taken and sent. */
#ifndef PETREL_MIGRATION_SENDER_H
#define PETREL_MIGRATION_SENDER_H

#include "memory/guest_mem.h"
#include "migration/migration_int.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct throttle;

struct mig_sender {
	struct migration *m;
	struct vm *vm;
	int fd;
	struct throttle *throttle;   /* auto-converge, started when first needed */
	unsigned strikes;            /* rounds in a row the guest dirtied more than half what was sent */
	uint64_t pace_start, paced;  /* max_bandwidth: when pacing began and bytes since */
	bool postcopy;               /* switch to post-copy (mode postcopy, or auto not converging) */
	bool committed;              /* the destination runs the guest: no way back */
	bool state_sent;             /* the states went: the destination may have run and announced it */
	bool unlocked;               /* the drives' locks were let go for the destination */
	bool holding;                /* vm_pause_exclusive is ours: from the switch's pause to its outcome */
	bool was_paused;             /* the VM was paused (by its user) when the switch began */
	uint64_t remaining;          /* pages dirty at the last count */
	uint64_t *dirty[GUEST_MEM_MAX_REGIONS];
	char *err;
	size_t errlen;
};

/* Connect to m->so.url, send the greeting and the definition, wait until the machine is
 * built over there. */
int mig_sender_open(struct mig_sender *s);
/* Every touched page, then rounds of dirtied ones until the rest fits the downtime (or the
 * post-copy switch): 1 when it is time to switch, or -errno. Dirty logging must be on. */
int mig_sender_precopy(struct mig_sender *s, uint64_t t0);
/* Which pages are dirty now (into s->dirty), their count. fetch_only: KVM's log is cleared
 * as the pages go out (send_dirty with clear). */
uint64_t mig_sender_take_dirty(struct mig_sender *s, int *e, bool fetch_only);
int mig_sender_send_dirty(struct mig_sender *s, bool clear);
/* Read the next message: it must be `type` with a len-byte payload; FAIL gives the reason. */
int mig_sender_expect(struct mig_sender *s, uint32_t type, void *payload, size_t len, int timeout_ms, const char *what);
/* A send failed with e: the reason (the destination's, if it said one) into s->err. */
int mig_sender_peer_reason(struct mig_sender *s, int e, const char *what);

#endif
