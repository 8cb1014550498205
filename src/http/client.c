/* The HTTP client. See client.h. */
#include "http/client.h"
#include "util/util.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX (8u << 20)

/* Where a call's wait stands: its deadlines, and when to look at the answering process next. */
struct wait {
	struct uhttp_patience *p;
	uint64_t idle_until, hard_until, next_look;
};

/* How often a patient call looks at the process that owes the answer. */
#define LOOK_MS 500
/* How often a call that awaits its socket tries to connect again. */
#define CONNECT_RETRY_MS 5

static void wait_init(struct wait *w, struct uhttp_patience *p)
{
	uint64_t t0 = now_ms();
	*w = (struct wait){ p, t0 + p->idle_ms, t0 + (p->max_ms > p->idle_ms ? p->max_ms : p->idle_ms), t0 + LOOK_MS };
}

/* Until fd is ready for ev (0), or the wait is over (-ETIMEDOUT, -ESRCH: p->outcome says
 * why). fd -1: until the next try to connect (0) at the latest. */
static int wait_fd(int fd, short ev, struct wait *w)
{
	for (;;) {
		uint64_t now = now_ms();
		if (now >= w->hard_until) {
			w->p->outcome = UHTTP_WAIT_MAX;
			return -ETIMEDOUT;
		}
		if (w->p->progress && now >= w->next_look) {
			int r = w->p->progress(w->p->opaque);
			/* a worker that answered and then ended (a zombie now) left its answer here:
			 * take it before calling the worker gone */
			struct pollfd ready = { fd, ev, 0 };
			if (r < 0 && poll(&ready, 1, 0) > 0)
				return 0;
			if (r < 0) {
				w->p->outcome = UHTTP_WAIT_GONE;
				return r;
			}
			if (r > 0)
				w->idle_until = now + w->p->idle_ms;
			w->next_look = now + LOOK_MS;
		}
		if (now >= w->idle_until) {
			w->p->outcome = UHTTP_WAIT_IDLE;
			return -ETIMEDOUT;
		}
		uint64_t until = w->idle_until < w->hard_until ? w->idle_until : w->hard_until;
		if (w->p->progress && w->next_look < until)
			until = w->next_look;
		if (fd < 0 && until > now + CONNECT_RETRY_MS)
			until = now + CONNECT_RETRY_MS;
		struct pollfd p = { fd, ev, 0 };
		int r = poll(&p, 1, (int)(until - now));
		if (r > 0 || (fd < 0 && r == 0))
			return 0;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

int uhttp_connect(const char *sock)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(sock) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static int request_fd(int fd, const char *method, const char *path, const char *body, struct wait *deadline,
		      char **out);

int uhttp_request(const char *sock, const char *method, const char *path, const char *body,
		  unsigned timeout_ms, char **out)
{
	*out = NULL;
	int fd = uhttp_connect(sock);
	if (fd < 0)
		return fd;
	return uhttp_request_fd(fd, method, path, body, timeout_ms, out);
}

int uhttp_request_fd(int fd, const char *method, const char *path, const char *body, unsigned timeout_ms,
		     char **out)
{
	struct uhttp_patience p = { .idle_ms = timeout_ms, .max_ms = timeout_ms };
	struct wait w;
	wait_init(&w, &p);
	return request_fd(fd, method, path, body, &w, out);
}

int uhttp_request_patient(const char *sock, const char *method, const char *path, const char *body,
			  struct uhttp_patience *p, char **out)
{
	*out = NULL;
	p->outcome = UHTTP_WAIT_ANSWERED;
	/* a first look: a worker already gone fails at once, and the count starts from now */
	int r = p->progress ? p->progress(p->opaque) : 0;
	if (r < 0) {
		p->outcome = UHTTP_WAIT_GONE;
		return r;
	}
	struct wait w;
	wait_init(&w, p);
	int fd;
	while ((fd = uhttp_connect(sock)) < 0 && p->await_socket && (fd == -ENOENT || fd == -ECONNREFUSED)) {
		int e = wait_fd(-1, 0, &w);
		if (e < 0)
			return e;
	}
	if (fd < 0)
		return fd;
	return request_fd(fd, method, path, body, &w, out);
}

static int request_fd(int fd, const char *method, const char *path, const char *body, struct wait *deadline,
		      char **out)
{
	*out = NULL;
	size_t blen = body ? strlen(body) : 0;
	char *req = NULL;
	int rlen = asprintf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
			    "Accept: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
			    method, path, body ? "Content-Type: application/json\r\n" : "", blen,
			    body ? body : "");
	if (rlen < 0) {
		close(fd);
		return -ENOMEM;
	}
	int e = 0;
	for (size_t off = 0; off < (size_t)rlen && !e;) {
		if ((e = wait_fd(fd, POLLOUT, deadline)) < 0)
			break;
		ssize_t n = send(fd, req + off, (size_t)rlen - off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			e = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	free(req);
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	if (!buf)
		e = -ENOMEM;
	while (!e) {
		if ((e = wait_fd(fd, POLLIN, deadline)) < 0)
			break;
		if (len + 1 >= cap) {
			char *nb = cap < REPLY_MAX ? realloc(buf, cap *= 2) : NULL;
			if (!nb) {
				e = -EMSGSIZE;
				break;
			}
			buf = nb;
		}
		ssize_t n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			e = -errno;
		else if (n > 0)
			len += (size_t)n;
	}
	close(fd);
	if (e < 0) {
		free(buf);
		return e;
	}
	buf[len] = '\0';
	unsigned status = 0;
	char *sep = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*d %u", &status) != 1 || !sep || status < 100 || status > 599) {
		free(buf);
		return -EPROTO;
	}
	sep += 4;
	if (*sep) {
		*out = strdup(sep);
		if (!*out) {
			free(buf);
			return -ENOMEM;
		}
	}
	free(buf);
	return (int)status;
}
