/* The destination side's pieces (receive.c), shared with replication's standby (src/ha). */
#ifndef PETREL_MIGRATION_RECEIVER_H
#define PETREL_MIGRATION_RECEIVER_H

#include "migration/migration_int.h"
#include "migration/wire.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mig_receiver {
	struct migration *m;
	const struct mig_receive_hooks *h;
	struct vm *vm;
	int fd;
	bool built;
	pthread_mutex_t wlock;          /* the socket's writers: this thread, post-copy's fault thread */
	uint8_t *postcopy;              /* PCPY: the pages to fetch after the switch */
	size_t postcopy_len;
	struct postcopy_dst *pc;
	uint32_t disks_sized;           /* MIG_DISK: the drives whose size came (bit i: drive i) */
	uint64_t t_state;
	char *err;
	size_t errlen;
};

/* Greeting and definition; the machine is built (r->built) and the source told so. */
int mig_receiver_handshake(struct mig_receiver *r);
/* Where a PAGE message's run goes in guest memory (msg_len: the whole message's length), or
 * NULL with why in err when it is not a run of guest RAM the message's length matches. */
void *mig_pages_target(struct vm *vm, const struct mig_pages *p, uint64_t msg_len, char *err, size_t errlen);
/* A PAGE message whose header is h: checked and written into guest memory. */
int mig_receiver_take_pages(struct mig_receiver *r, const struct mig_hdr *h);

#endif
