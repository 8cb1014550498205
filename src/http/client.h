/* A small HTTP/1.1 client over a Unix socket, with deadlines: petreld's calls to a worker's
 * API (a worker that hangs on its API costs a timeout, never petreld's thread) and to a peer
 * (over a TLS session's plaintext end), and petrelctl's calls to petreld. One request per
 * connection (Connection: close). Errors are negative errnos. */
#ifndef PETREL_HTTP_CLIENT_H
#define PETREL_HTTP_CLIENT_H

#include <stdbool.h>

/* A connected stream socket to the Unix socket at sock, or -errno. */
int uhttp_connect(const char *sock);
/* One request to the HTTP API on the Unix socket sock, with a timeout. Returns the status
 * (body malloc'd in *out, may be NULL) or -errno (-ETIMEDOUT, -EPROTO for an answer that is
 * not HTTP, -EMSGSIZE past 8 MiB). */
int uhttp_request(const char *sock, const char *method, const char *path, const char *body,
		  unsigned timeout_ms, char **out);
/* The same on a connected stream fd (a TLS session's plaintext end), which it closes. */
int uhttp_request_fd(int fd, const char *method, const char *path, const char *body, unsigned timeout_ms,
		     char **out);
/* How long a patient request waits: while the process that owes the answer makes progress
 * (progress(opaque): 1 it did since the last look, 0 it did not, -errno it is gone, which ends
 * the wait at once), up to max_ms in all; idle_ms once it makes none. outcome says how it ended. */
enum uhttp_wait { UHTTP_WAIT_ANSWERED, UHTTP_WAIT_IDLE, UHTTP_WAIT_MAX, UHTTP_WAIT_GONE };
struct uhttp_patience {
	unsigned idle_ms, max_ms;
	int (*progress)(void *opaque);
	void *opaque;
	/* the socket may not be there yet (a worker starting): while connecting finds no socket or
	 * no listener, connect again every few ms, within the same waits */
	bool await_socket;
	enum uhttp_wait outcome;
};
int uhttp_request_patient(const char *sock, const char *method, const char *path, const char *body,
			  struct uhttp_patience *p, char **out);

#endif
