/* API connection bookkeeping. See http_conns.h. */
#include "api/http_conns.h"
#include "api/mhd_lib.h"
#include "util/log.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct http_conn {
	struct http_conn *older, *newer;
	int fd;
	bool busy, cut;
};

static void unlink_conn(struct http_conns *t, struct http_conn *k)
{
	if (k->older)
		k->older->newer = k->newer;
	else
		t->oldest = k->newer;
	if (k->newer)
		k->newer->older = k->older;
	else
		t->newest = k->older;
	t->n--;
}

/* A whole request header is waiting on the socket, not read yet: a client that is not slow,
 * only not served yet. */
static bool request_waiting(int fd)
{
	char buf[4096];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	return n >= 4 && memmem(buf, (size_t)n, "\r\n\r\n", 4) != NULL;
}

/* Cut the oldest connection without a request in hand or waiting. Each cut attacker may come
 * straight back, and each new connection cuts one more: without the look at what is waiting,
 * that chain reached a client that had sent its whole request a moment before the API thread
 * got to it (seen once in a clean-clone run of test_slow_clients_cannot_hold_the_api). */
static void evict_one(struct http_conns *t)
{
	for (struct http_conn *k = t->oldest; k; k = k->newer) {
		if (k->busy || k->cut || request_waiting(k->fd))
			continue;
		k->cut = true;
		t->evicted++;
		shutdown(k->fd, SHUT_RDWR); /* MHD sees the end and closes it */
		if (t->evicted == 1 || t->evicted % 1000 == 0)
			log_warn("API: %u connections open: closing idle or slow ones (%llu so far)", t->n,
				 (unsigned long long)t->evicted);
		return;
	}
}

void http_conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode code)
{
	struct http_conns *t = cls;
	struct http_conn *k = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (k) {
			unlink_conn(t, k);
			free(k);
			*socket_context = NULL;
		}
		return;
	}
	const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	k = calloc(1, sizeof(*k));
	if (!k || !ci) {
		free(k);
		return;
	}
	k->fd = ci->connect_fd;
	k->older = t->newest;
	if (t->newest)
		t->newest->newer = k;
	else
		t->oldest = k;
	t->newest = k;
	t->n++;
	*socket_context = k;
	/* The new connection is the newest: it is only cut if all others are busy or cut. */
	unsigned live = 0;
	for (struct http_conn *j = t->oldest; j; j = j->newer)
		live += !j->cut;
	if (live > HTTP_CONNS_SOFT)
		evict_one(t);
}

void http_conns_busy(struct MHD_Connection *c, bool busy)
{
	const union MHD_ConnectionInfo *ci = mhd.get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct http_conn *k = ci ? ci->socket_context : NULL;
	if (k)
		k->busy = busy;
}
