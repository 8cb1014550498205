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
	int fd, lfd, cancel_efd;        /* fd: published under lock (a cancel shuts it) */
	bool cancelling;                /* under lock: migration_free/migration_cancel asked */
	bool committed;                 /* under lock: a destination's vCPUs run (mig_commit) */
	struct vm *vm;
	struct vm_config *cfg;          /* destination */
	struct mig_send_opts so;
	struct mig_receive_opts ro;
	char *url;
	mig_done_fn done;
	void *opaque;
};

/* A source's migration object without its thread (replication's primary drives the sender
 * itself); migration_free frees it. */
struct migration *mig_new_source(struct vm *vm, const struct mig_send_opts *o, mig_done_fn done, void *opaque);
/* Is the migration being cancelled (migration_free, migration_cancel)? */
bool mig_cancelled(struct migration *m);
/* The connection's fd, published for a cancel to shut (shut at once if one came first). */
void mig_set_fd(struct migration *m, int fd);
/* A destination at the point of no return (before its vCPUs start): false if a cancel came
 * first (then it must fail), else from now on a migration_cancel is refused. */
bool mig_commit(struct migration *m);
/* Record the end on the status and call done. */
void mig_finish(struct migration *m, int e, const char *why);
/* Source: the destination said the guest runs (go) after a pause at t_pause: record the
 * downtime and tell the destination (DONE). */
struct mig_go;
void mig_record_go(struct migration *m, int fd, const struct mig_go *go, uint64_t t_pause);
void *mig_send_main(void *arg);

/* What a destination does to the machine, replaceable for the fuzzer (tests/fuzz). */
struct postcopy_dst;
struct mig_receive_hooks {
	int (*build)(struct vm *vm, struct vm_config *cfg, int console_fd);
	int (*postcopy)(struct migration *m, struct vm *vm, int fd, pthread_mutex_t *wlock, const uint8_t *needed,
			size_t len, struct postcopy_dst **out, char *err, size_t errlen);
	int (*load)(struct vm *vm, const uint8_t *buf, size_t len, const struct snapshot_load_opts *o, char *err,
		    size_t errlen);
	int (*start)(struct vm *vm);
	void (*destroy)(struct vm *vm);   /* stop, join and free a built machine */
};
extern const struct mig_receive_hooks mig_receive_default;
/* Receive one VM from a connected source on fd into m->vm / m->cfg: 0 when it runs here, or
 * -errno with err (the source was told; nothing is left built). */
int mig_receive_stream(struct migration *m, int fd, const struct mig_receive_hooks *h, char *err, size_t errlen);
void *mig_receive_main(void *arg);

#define MIG_LOCKED(m, stmt) do { pthread_mutex_lock(&(m)->lock); stmt; pthread_mutex_unlock(&(m)->lock); } while (0)

#endif
