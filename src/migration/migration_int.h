/* What send.c, receive.c and migration.c share. */
#ifndef PETREL_MIGRATION_INT_H
#define PETREL_MIGRATION_INT_H

#include "migration/migration.h"

#include <pthread.h>

struct migration {
	pthread_mutex_t lock;
	struct mig_status st;           /* under lock */
	pthread_t thread;
	bool thread_started;
	int fd, lfd, cancel_efd;
	struct vm *vm;
	struct vm_config *cfg;          /* destination */
	struct mig_send_opts so;
	struct mig_receive_opts ro;
	char *url;
	mig_done_fn done;
	void *opaque;
};

/* Is the migration being cancelled (migration_free)? */
bool mig_cancelled(struct migration *m);
/* Record the end on the status and call done. */
void mig_finish(struct migration *m, int e, const char *why);
/* Source: the destination said the guest runs (go) after a pause at t_pause: record the
 * downtime and tell the destination (DONE). */
struct mig_go;
void mig_record_go(struct migration *m, int fd, const struct mig_go *go, uint64_t t_pause);
void *mig_send_main(void *arg);
void *mig_receive_main(void *arg);

#define MIG_LOCKED(m, stmt) do { pthread_mutex_lock(&(m)->lock); stmt; pthread_mutex_unlock(&(m)->lock); } while (0)

#endif
