/* petreld's TCP listener, TLS only (peer.h): an accept thread, and a short-lived thread per
 * connection for its handshake (a slow or silent client costs its own thread its deadline,
 * never the listener), after which the connection's plaintext end (util/tls.h) is one more
 * connection of petreld's HTTP server. */
#include "manager/mgr.h"
#include "manager/peer/peer.h"
#include "http/server.h"
#include "migration/url.h"
#include "util/thread.h"
#include "util/tls.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HANDSHAKE_MS 10000
#define HANDSHAKES_MAX 32      /* at once: beyond, new connections are closed */
#define TLS_CONNS_MAX 128      /* TLS connections open (pumps): beyond, new ones are closed */

struct listener {
	struct manager *m;
	struct api_server *srv;
	int fd;
	atomic_uint handshaking;
};

struct shake {
	struct listener *l;
	int fd;
	char remote[64];
};

static void *handshake_main(void *arg)
{
	struct shake *h = arg;
	char err[512];
	struct tls_peer peer;
	int plain;
	struct tls_opts o = { .role = TLS_SERVER, .client_auth = TLS_CLIENT_CERT_OPTIONAL, .timeout_ms = HANDSHAKE_MS,
			      .thread_kind = SC_API };
	int e = tls_wrap(h->fd, h->l->m->tls, &o, &peer, &plain, err, sizeof(err));
	if (e < 0) {
		fprintf(stderr, "petreld: TLS client %s refused: %s\n", h->remote, err);
	} else {
		struct api_principal who = { .kind = peer.has_cert ? API_PRINCIPAL_TLS_CERT : API_PRINCIPAL_TLS_ANON };
		snprintf(who.subject, sizeof(who.subject), "%s", peer.subject);
		snprintf(who.remote, sizeof(who.remote), "%s", h->remote);
		if (api_server_adopt(h->l->srv, plain, &who) < 0)
			fprintf(stderr, "petreld: TLS client %s: cannot serve it\n", h->remote);
	}
	atomic_fetch_sub(&h->l->handshaking, 1);
	free(h);
	return NULL;
}

static void remote_name(const struct sockaddr_storage *sa, char *out, size_t n)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (sa->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
		port = ntohs(s4->sin_port);
		snprintf(out, n, "%s:%u", a, port);
	} else if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
		snprintf(out, n, "[%s]:%u", a, port);
	} else {
		snprintf(out, n, "?");
	}
}

static void *accept_main(void *arg)
{
	struct listener *l = arg;
	for (;;) {
		struct sockaddr_storage sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				poll(NULL, 0, 100);   /* out of descriptors: rest, the client stays queued */
			continue;
		}
		if (atomic_load(&l->handshaking) >= HANDSHAKES_MAX || tls_pumps_running() >= TLS_CONNS_MAX) {
			close(fd);
			continue;
		}
		struct shake *h = calloc(1, sizeof(*h));
		pthread_t t;
		if (!h) {
			close(fd);
			continue;
		}
		h->l = l;
		h->fd = fd;
		remote_name(&sa, h->remote, sizeof(h->remote));
		atomic_fetch_add(&l->handshaking, 1);
		if (thread_start(&t, SC_API, "petreld_tls", handshake_main, h) < 0) {
			atomic_fetch_sub(&l->handshaking, 1);
			close(fd);
			free(h);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

int peer_listen_open(struct manager *m, char *err, size_t errlen)
{
	if (!m->tls_dir)
		return error_set(err, errlen, -EINVAL, "--listen-tcp needs --tls-dir: petreld listens on TCP with TLS only");
	int e = tls_creds_load(m->tls_dir, &m->tls, err, errlen);
	if (e < 0)
		return e;
	char url[300];
	if (snprintf(url, sizeof(url), "tcp:%s", m->listen_tcp) >= (int)sizeof(url))
		return error_set(err, errlen, -EINVAL, "--listen-tcp: too long");
	return mig_listen_backlog(url, 64, err, errlen);
}

int peer_listen_serve(struct manager *m, int fd, struct api_server *srv, char *err, size_t errlen)
{
	struct listener *l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return -ENOMEM;
	}
	l->m = m;
	l->srv = srv;
	l->fd = fd;
	int e;
	pthread_t t;
	if ((e = thread_start(&t, SC_API, "petreld_accept", accept_main, l)) < 0) {
		close(l->fd);
		free(l);
		return error_set(err, errlen, e, "cannot start the listener's thread: %s", strerror(-e));
	}
	pthread_detach(t);
	return 0;
}
