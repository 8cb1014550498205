/* The HTTP server: one thread of the api kind, poll() over the listening socket, an eventfd
 * for answers and the connections (conn.c). See server.h. */
#include "http/server.h"
#include "http/server_int.h"
#include "util/log.h"
#include "util/thread.h"
#include "util/unix_socket.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LISTEN_BACKLOG 128
#define ACCEPT_RETRY_MS 100

/* A connection handed over by api_server_adopt, waiting for the server's thread. */
struct adopted_conn {
	struct adopted_conn *next;
	int fd;
	struct api_principal who;
};

static void unlink_conn(struct api_server *s, struct http_conn *c)
{
	if (c->older)
		c->older->newer = c->newer;
	else
		s->oldest = c->newer;
	if (c->newer)
		c->newer->older = c->older;
	else
		s->newest = c->older;
	s->nconns--;
	s->nlingering -= c->lingering;
}

/* Whether c is waiting for us rather than we for it: complete requests buffered (its share of
 * the round was used up), a new connection whose client has not had time to send, bytes in
 * its socket in the middle of a request (a body read 4 KiB a round), or a whole request
 * header there. A client that is not reading its answers never is. */
static bool waits_for_us(struct http_conn *c, uint64_t now)
{
	if (c->out_len || c->lingering)
		return false;
	if (http_conn_ready(c))
		return true;
	if (!c->got_bytes && now - c->accepted_ns < HTTP_NEW_GRACE_MS * 1000000ull)
		return true;
	char buf[4096];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	return n > 0 && (c->in_request || (n >= 4 && memmem(buf, (size_t)n, "\r\n\r\n", 4)));
}

/* Close the oldest connection that neither holds a request the handler is handling nor
 * waits for us (waits_for_us). Each cut attacker may come straight back, and each new
 * connection cuts one more: without those looks, that chain reached clients that had sent
 * their whole request a moment before the API thread got to it, that were half way through a
 * large body, or had just connected (test_slow_clients_cannot_hold_the_api, and a review).
 * A connection whose answers its client does not read is cut whatever waits behind them:
 * pipelined requests queued behind unread answers would otherwise keep it for good (256 such
 * clients locked everyone out). It is closed at once, so nothing more of it is read or run.
 * False if none could be. */
static bool evict_one(struct api_server *s)
{
	uint64_t now = now_ns();
	struct http_conn *c = s->oldest;
	/* Lingering ones first: their answers are out, their linger is a courtesy. */
	while (c && !(c->lingering && !c->dead))
		c = c->newer;
	if (!c)
		c = s->oldest;
	for (; c; c = c->newer) {
		if (c->dead || c->handling || waits_for_us(c, now))
			continue;
		unlink_conn(s, c);
		http_conn_free(c);
		s->evicted++;
		if (s->evicted == 1 || s->evicted % 1000 == 0)
			log_warn("API: %u connections open: closing idle or slow ones (%llu so far)",
				 s->nconns, (unsigned long long)s->evicted);
		return true;
	}
	return false;
}

/* A new connection on fd (non-blocking), from who (NULL: a Unix client, asked on first use).
 * False without memory (fd closed). */
static bool add_conn(struct api_server *s, int fd, const struct api_principal *who)
{
	struct http_conn *c = http_conn_new(s, fd);
	if (!c) {
		close(fd);
		return false;
	}
	if (who) {
		c->who = *who;
		c->who_known = true;
	}
	c->accepted_ns = now_ns();
	c->older = s->newest;
	if (s->newest)
		s->newest->newer = c;
	else
		s->oldest = c;
	s->newest = c;
	s->nconns++;
	/* The new connection is the newest: it is only cut if all others are busy or cut. */
	unsigned live = 0;
	for (struct http_conn *k = s->oldest; k; k = k->newer)
		live += !k->dead;
	if (live > HTTP_CONNS_SOFT)
		evict_one(s);
	return true;
}

/* Called after the round's I/O (evict_one frees connections). */
static void accept_all(struct api_server *s)
{
	for (;;) {
		/* Full: a client waits, so the oldest idle or slow connection makes room; when every
		 * one holds a request, the listener rests for ACCEPT_RETRY_MS. */
		if (s->nconns >= HTTP_CONNS_HARD && !evict_one(s)) {
			s->accept_paused = true;
			return;
		}
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors or memory: the client stays queued and the socket stays
			 * readable, so the listener is left out of poll until a connection closes or
			 * ACCEPT_RETRY_MS pass (retrying at once spun the thread and the log). */
			s->accept_paused = true;
			if (s->accept_failures++ % 1000 == 0)
				log_warn("API: cannot accept a connection: %s (%llu times)", strerror(errno),
					 (unsigned long long)s->accept_failures);
			return;
		}
		if (!add_conn(s, fd, NULL))
			return;
	}
}

/* The handler's answers: send them. False once the server is to stop. */
static bool take_answers(struct api_server *s)
{
	uint64_t v;
	if (read(s->wake, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("API: wake-up: %s", strerror(errno));
	pthread_mutex_lock(&s->lock);
	struct http_conn *done = s->done;
	s->done = NULL;
	struct adopted_conn *adopted = s->adopted;
	s->adopted = NULL;
	bool stop = s->stopping;
	pthread_mutex_unlock(&s->lock);
	while (adopted) {
		struct adopted_conn *a = adopted;
		adopted = a->next;
		if (stop || s->nconns >= HTTP_CONNS_HARD)
			close(a->fd);   /* full: the client sees its connection closed, as one not accepted */
		else
			add_conn(s, a->fd, &a->who);
		free(a);
	}
	while (done) {
		struct http_conn *c = done;
		done = c->next_done;
		http_conn_answer(c);
	}
	return !stop;
}

static void *serve(void *arg)
{
	struct api_server *s = arg;
	struct pollfd pfd[HTTP_CONNS_HARD + 2];
	struct http_conn *who[HTTP_CONNS_HARD + 2];
	for (;;) {
		/* A descriptor with nothing to wait for is left out (-1): poll would still report
		 * a hang-up on it, at once and again (a client gone while its request is handled). */
		pfd[0] = (struct pollfd){ s->wake, POLLIN, 0 };
		pfd[1] = (struct pollfd){ s->accept_paused ? -1 : s->fd, POLLIN, 0 };
		nfds_t n = 2;
		bool ready = false, over = false;
		int timeout = s->accept_paused ? ACCEPT_RETRY_MS : -1;
		uint64_t now = now_ns();
		for (struct http_conn *c = s->oldest; c; c = c->newer) {
			over |= http_conn_linger_over(c, now, &timeout);
			short ev = http_conn_events(c);
			pfd[n] = (struct pollfd){ ev ? c->fd : -1, ev, 0 };
			who[n++] = c;
			ready |= http_conn_ready(c);
		}
		if (poll(pfd, n, ready || over ? 0 : timeout) < 0) {
			if (errno != EINTR)
				log_warn("API: poll: %s", strerror(errno));
			continue;
		}
		s->accept_paused = false;
		if (pfd[0].revents && !take_answers(s))
			break;
		for (nfds_t i = 2; i < n; i++) {
			if (pfd[i].revents)
				http_conn_io(who[i], pfd[i].revents);
			else if (http_conn_ready(who[i]))
				http_conn_continue(who[i]);
		}
		if (pfd[1].revents & POLLIN)
			accept_all(s);
		for (struct http_conn *c = s->oldest, *next; c; c = next) {
			next = c->newer;
			if (c->dead) {
				unlink_conn(s, c);
				http_conn_free(c);
				s->accept_paused = false; /* a descriptor is free again */
			}
		}
	}
	return NULL;
}

/* The API socket: a stale one (a petrel that died) is replaced, a live one or another file
 * is left alone. */
static int listen_unix(const char *path)
{
	int fd = unix_listen(path, LISTEN_BACKLOG, true);
	if (fd == -ENAMETOOLONG)
		log_error("API socket path '%s' is too long (at most %zu bytes)", path,
			  sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	else if (fd == -EADDRINUSE)
		log_error("API socket '%s' already exists and is in use, or is not a socket", path);
	else if (fd < 0)
		log_error("cannot listen on API socket '%s': %s", path, strerror(-fd));
	return fd;
}

int api_server_adopt(struct api_server *s, int fd, const struct api_principal *who)
{
	struct adopted_conn *a = calloc(1, sizeof(*a));
	if (!a || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		int e = a ? -errno : -ENOMEM;
		free(a);
		close(fd);
		return e;
	}
	a->fd = fd;
	a->who = *who;
	pthread_mutex_lock(&s->lock);
	a->next = s->adopted;
	s->adopted = a;
	pthread_mutex_unlock(&s->lock);
	uint64_t one = 1;
	if (write(s->wake, &one, sizeof(one)) < 0)
		log_error("API: cannot wake the server: %s", strerror(errno));
	return 0;
}

static void server_free(struct api_server *s)
{
	while (s->adopted) {
		struct adopted_conn *a = s->adopted;
		s->adopted = a->next;
		close(a->fd);
		free(a);
	}
	while (s->oldest) {
		struct http_conn *c = s->oldest;
		unlink_conn(s, c);
		http_conn_free(c);
	}
	if (s->fd >= 0) {
		close(s->fd);
		unlink(s->path);
	}
	if (s->wake >= 0)
		close(s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

int api_server_start_handler(struct api_server **out, api_handler_fn handle, void *ctx,
			     const char *path, size_t max_payload)
{
	char why[256];
	const struct http_parser_lib *hp = http_parser_lib_load(why, sizeof(why)); /* loaded only now */
	if (!hp) {
		log_error("cannot serve the API: %s", why);
		return -ENOTSUP;
	}
	struct api_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		return -ENOMEM;
	}
	s->hp = hp;
	s->handle = handle;
	s->ctx = ctx;
	s->max_payload = max_payload;
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int e = s->wake < 0 ? -errno : 0;
	if (e < 0)
		log_error("cannot serve the API: eventfd: %s", strerror(-e));
	if (!e && (s->fd = listen_unix(path)) < 0)
		e = s->fd;
	if (!e && (e = thread_start(&s->thread, SC_API, "fc_api", serve, s)) < 0)
		log_error("cannot start the API thread: %s", strerror(-e));
	if (e < 0) {
		server_free(s);
		return e;
	}
	log_info("API server listening on %s", path);
	*out = s;
	return 0;
}

void api_server_stop(struct api_server *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	uint64_t one = 1;
	if (write(s->wake, &one, sizeof(one)) < 0)
		log_error("API: cannot stop the server: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	server_free(s);
}
