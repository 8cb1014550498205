/* What primary.c, standby.c and replication.c share. */
#ifndef PETREL_HA_INT_H
#define PETREL_HA_INT_H

#include "ha/replication.h"
#include "migration/migration.h"

#include <pthread.h>

struct outgate;
struct mig_receive_hooks;

struct replication {
	pthread_mutex_t lock;
	struct repl_status st;         /* under lock */
	pthread_t thread;
	bool thread_started;
	int cancel_efd;
	int promote_efd;               /* standby: replication_promote asked (promote.c) */
	int fd, lfd;
	struct vm *vm;
	struct vm_config *cfg;         /* standby */
	struct repl_primary_opts po;
	struct repl_standby_opts so;
	char *url;
	struct outgate *gate;          /* primary */
	repl_event_fn ev;
	void *opaque;
	const struct mig_receive_hooks *hooks; /* standby: the machine's (the unit tests' fake one) */
};

/* The standby hears nothing between two checkpoints for up to an interval plus the next
 * checkpoint's pause (which nears the interval on a guest that dirties much), and released
 * console output may hold the primary's thread for 100 ms: a standby failure timeout below
 * this takes a healthy primary for dead. The primary tells its interval (MIG_RCFG). */
static inline uint64_t repl_min_standby_timeout_ms(uint32_t interval_ms)
{
	return 2ull * interval_ms + 100;
}

#define REPL_LOCKED(r, stmt) do { pthread_mutex_lock(&(r)->lock); stmt; pthread_mutex_unlock(&(r)->lock); } while (0)

void repl_set_state(struct replication *r, enum repl_state st, const char *why);
bool repl_cancelled(struct replication *r);
void *repl_primary_main(void *arg);
void *repl_standby_main(void *arg);
/* replication_standby_start with the machine's hooks h (tests: a fake machine). */
int repl_standby_start_hooks(struct vm *vm, struct vm_config *cfg, const struct repl_standby_opts *o,
			     const struct mig_receive_hooks *h, repl_event_fn ev, void *opaque,
			     struct replication **out, char *err, size_t errlen);

/* promote.c. The primary is gone (external takeover): report primary-lost and wait to be
 * promoted. true: promoted (run the guest); false: replication was stopped meanwhile. */
bool repl_wait_for_promotion(struct replication *r, const char *why);
/* A promotion was asked for (the stream was cut for it: no death of the primary to wait for). */
bool repl_promote_asked(struct replication *r);

/* The standby's stream over a connected fd (the fuzzer calls it with its own hooks): greeting,
 * definition, initial sync, checkpoints, until the stream fails. The result says why it ended
 * (-ECONNRESET, -ETIMEDOUT: the primary died; -ECANCELED: it ended replication; else a bad
 * stream); *out whether a machine was built (the caller takes it down, or over), the last
 * complete checkpoint's states and console output (the caller frees them). */
struct mig_receive_hooks;
struct repl_standby_run {
	bool built;
	uint8_t *state;
	size_t state_len;
	uint8_t *console;   /* that checkpoint's console output the primary had not said it wrote */
	size_t console_len;
};
int repl_standby_stream(struct replication *r, int fd, const struct mig_receive_hooks *h, struct repl_standby_run *out,
			char *err, size_t errlen);

#endif
