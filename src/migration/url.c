#include "migration/url.h"
#include "util/error.h"
#include "util/tls.h"
#include "util/unix_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

struct endpoint {
	bool unix_path;
	bool tls;
	char host[256], port[16];
	struct sockaddr_un sun;
};

static int parse(const char *url, struct endpoint *ep, char *err, size_t errlen)
{
	memset(ep, 0, sizeof(*ep));
	if (!strncmp(url, "unix:", 5)) {
		const char *path = url + 5;
		if (!*path || strlen(path) >= sizeof(ep->sun.sun_path))
			return error_set(err, errlen, -EINVAL, "%s: a unix: path must be 1 to %zu bytes", url,
					 sizeof(ep->sun.sun_path) - 1);
		ep->unix_path = true;
		ep->sun.sun_family = AF_UNIX;
		strcpy(ep->sun.sun_path, path);
		return 0;
	}
	ep->tls = !strncmp(url, "tls:", 4);
	if (strncmp(url, "tcp:", 4) && !ep->tls)
		return error_set(err, errlen, -EINVAL,
				 "%s: expected tcp:HOST:PORT, tls:HOST:PORT or unix:PATH", url);
	const char *h = url + 4, *colon;
	size_t hl;
	if (*h == '[') { /* [IPv6]:PORT */
		const char *close = strchr(h, ']');
		if (!close || close[1] != ':')
			return error_set(err, errlen, -EINVAL, "%s: expected %.3s:[ADDRESS]:PORT", url, url);
		h++;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(h, ':');
		hl = colon ? (size_t)(colon - h) : 0;
	}
	char *end;
	long port = colon ? strtol(colon + 1, &end, 10) : -1;
	if (!colon || hl >= sizeof(ep->host) || !colon[1] || *end || port < 0 || port > 65535)
		return error_set(err, errlen, -EINVAL, "%s: expected %.3s:HOST:PORT with a port 0-65535", url,
				 url);
	memcpy(ep->host, h, hl);
	snprintf(ep->port, sizeof(ep->port), "%ld", port);
	return 0;
}

int mig_url_check(const char *url, char *err, size_t errlen)
{
	struct endpoint ep;
	return parse(url, &ep, err, errlen);
}

static int resolve(const struct endpoint *ep, bool passive, struct addrinfo **out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = passive ? AI_PASSIVE : 0 };
	int r = getaddrinfo(ep->host[0] ? ep->host : NULL, ep->port, &hints, out);
	if (r)
		return error_set(err, errlen, -EINVAL, "%s:%s: %s", ep->host, ep->port, gai_strerror(r));
	return 0;
}

int mig_listen(const char *url, char *err, size_t errlen)
{
	return mig_listen_backlog(url, 1, err, errlen);
}

int mig_listen_backlog(const char *url, int backlog, char *err, size_t errlen)
{
	struct endpoint ep;
	int e = parse(url, &ep, err, errlen);
	if (e < 0)
		return e;
	if (ep.unix_path) {
		/* Replace only a stale socket, never a live one or another kind of file. */
		int s = unix_listen(ep.sun.sun_path, backlog, false);
		if (s < 0)
			return error_set(err, errlen, s, "cannot listen on %s: %s", url,
					 s == -EADDRINUSE
						 ? "another process listens there, or it is not a socket"
						 : strerror(-s));
		return s;
	}
	struct addrinfo *ai;
	if ((e = resolve(&ep, true, &ai, err, errlen)) < 0)
		return e;
	int s = -1;
	e = -EADDRNOTAVAIL;
	for (struct addrinfo *a = ai; a && s < 0; a = a->ai_next) {
		s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		int one = 1;
		if (s >= 0 && (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
			       bind(s, a->ai_addr, a->ai_addrlen) < 0 || listen(s, backlog) < 0)) {
			e = -errno;
			close(s);
			s = -1;
		}
	}
	freeaddrinfo(ai);
	if (s < 0)
		return error_set(err, errlen, e, "cannot listen on %s: %s", url, strerror(-e));
	return s;
}

void mig_send_timeout(int s, unsigned ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool mig_url_is_tls(const char *url)
{
	return url && !strncmp(url, "tls:", 4);
}

/* The TLS session on a connected socket: the plaintext descriptor (util/tls.h), tuned as a
 * socket would be (a send to a peer that stops reading times out). */
static int wrap(int s, const struct mig_tls *tls, const struct tls_opts *o, char *err, size_t errlen)
{
	int plain;
	int e = tls_wrap(s, tls->creds, o, NULL, &plain, err, errlen);
	if (e < 0)
		return e;
	mig_send_timeout(plain, 60000);
	int buf = 4 << 20;
	setsockopt(plain, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(plain, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	return plain;
}

static void tune(int s)
{
	mig_send_timeout(s, 60000);
	int one = 1, buf = 4 << 20;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)); /* fails harmlessly on unix */
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
}

int mig_accept(int lfd, int timeout_ms, int cancel_fd, const struct mig_tls *tls, char *err, size_t errlen)
{
	struct pollfd pf[2] = { { .fd = lfd, .events = POLLIN }, { .fd = cancel_fd, .events = POLLIN } };
	int r = poll(pf, cancel_fd >= 0 ? 2 : 1, timeout_ms);
	if (r == 0)
		return error_set(err, errlen, -ETIMEDOUT, "no migration came in within %d ms", timeout_ms);
	if (r > 0 && cancel_fd >= 0 && pf[1].revents)
		return error_set(err, errlen, -ECANCELED, "cancelled while waiting for the migration");
	int s = r < 0 ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (s < 0) {
		int e = -errno;
		return error_set(err, errlen, e, "accepting the migration: %s", strerror(errno));
	}
	tune(s);
	if (!tls || !tls->creds)
		return s;
	/* The peer must show a certificate our CA signed; the handshake has the rest of the
	 * deadline (or 10 s when waiting for ever). */
	struct tls_opts o = { .role = TLS_SERVER, .client_auth = TLS_CLIENT_CERT_REQUIRED,
			      .timeout_ms = timeout_ms > 0 ? timeout_ms : 10000, .thread_kind = tls->pump_kind,
			      .confirm = true };
	return wrap(s, tls, &o, err, errlen);
}

/* connect() with a deadline: non-blocking, then poll. */
static int connect_within(int s, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	int r = connect(s, sa, len);
	if (r < 0 && errno == EINPROGRESS) {
		struct pollfd pf = { .fd = s, .events = POLLOUT };
		r = poll(&pf, 1, timeout_ms);
		if (r == 0) {
			errno = ETIMEDOUT;
			r = -1;
		} else if (r > 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			errno = soerr;
			r = soerr ? -1 : 0;
		}
	}
	fcntl(s, F_SETFL, fl);
	return r;
}

int mig_connect(const char *url, int timeout_ms, const struct mig_tls *tls, char *err, size_t errlen)
{
	struct endpoint ep;
	int e = parse(url, &ep, err, errlen);
	if (e < 0)
		return e;
	if (ep.tls && (!tls || !tls->creds))
		return error_set(err, errlen, -EINVAL,
				 "%s: a tls: destination needs a certificate directory (tls_dir)", url);
	if (ep.unix_path) {
		int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0 || connect_within(s, (struct sockaddr *)&ep.sun, sizeof(ep.sun), timeout_ms) < 0) {
			e = error_set(err, errlen, -errno, "cannot connect to %s: %s", url, strerror(errno));
			if (s >= 0)
				close(s);
			return e;
		}
		tune(s);
		return s;
	}
	if (!ep.host[0])
		return error_set(err, errlen, -EINVAL, "%s: the destination needs a host", url);
	struct addrinfo *ai;
	if ((e = resolve(&ep, false, &ai, err, errlen)) < 0)
		return e;
	int s = -1;
	e = -EHOSTUNREACH;
	for (struct addrinfo *a = ai; a && s < 0; a = a->ai_next) {
		s = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
		if (s >= 0 && connect_within(s, a->ai_addr, a->ai_addrlen, timeout_ms) < 0) {
			e = -errno;
			close(s);
			s = -1;
		}
	}
	freeaddrinfo(ai);
	if (s < 0)
		return error_set(err, errlen, e, "cannot connect to %s: %s", url, strerror(-e));
	tune(s);
	if (!ep.tls)
		return s;
	/* The server's certificate must be signed by our CA and name the host we asked for. */
	struct tls_opts o = { .role = TLS_CLIENT, .server_name = ep.host, .timeout_ms = timeout_ms,
			      .thread_kind = tls->pump_kind, .confirm = true };
	return wrap(s, tls, &o, err, errlen);
}
