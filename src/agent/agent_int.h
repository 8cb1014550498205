/* The client's state, shared by agent.c (the connection, requests) and agent_freeze.c (the
 * freeze it owes a thaw). Private to src/agent. */
#ifndef PETREL_AGENT_AGENT_INT_H
#define PETREL_AGENT_AGENT_INT_H

#include "agent/agent.h"
#include "agent/agent_json.h"

#include <pthread.h>

struct guest_agent {
	pthread_mutex_t lock;       /* one request at a time: guards fd, synced, rx */
	int fd;                     /* our end of the socketpair (non-blocking) */
	unsigned timeout_ms;
	bool synced;                /* the stream is in step: no guest-sync-delimited needed */
	struct agent_rx rx;
	bool (*port_open)(void *opaque);
	void *port_opaque;
	/* a freeze was asked and no thaw has answered since (__atomic, relaxed: read by the
	 * stop hook and GET handlers without the lock) */
	bool freeze_pending;
	/* counted for the log and the tests (under lock) */
	uint64_t resyncs, timeouts, bad_answers;
};

#endif
