/* What primary.c, standby.c and replication.c share. */
#ifndef PETREL_HA_INT_H
#define PETREL_HA_INT_H

#include "ha/replication.h"
#include "migration/migration.h"

#include <pthread.h>

struct outgate;

struct replication {
	pthread_mutex_t lock;
	struct repl_status st;         /* under lock */
	pthread_t thread;
	bool thread_started;
	int cancel_efd;
	int fd, lfd;
	struct vm *vm;
	struct vm_config *cfg;         /* standby */
	struct repl_primary_opts po;
	struct repl_standby_opts so;
	char *url;
	struct outgate *gate;          /* primary */
	repl_event_fn ev;
	void *opaque;
};

#define REPL_LOCKED(r, stmt) do { pthread_mutex_lock(&(r)->lock); stmt; pthread_mutex_unlock(&(r)->lock); } while (0)

void repl_set_state(struct replication *r, enum repl_state st, const char *why);
bool repl_cancelled(struct replication *r);
void *repl_primary_main(void *arg);
void *repl_standby_main(void *arg);

#endif
