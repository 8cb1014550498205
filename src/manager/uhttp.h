/* petreld's HTTP client (worker_http.c): requests to a worker's (or petreld's) Unix socket API,
 * and on a connected stream. petrelctl links it too. */
#ifndef PETREL_MANAGER_UHTTP_H
#define PETREL_MANAGER_UHTTP_H

#include <stdbool.h>

/* worker_http.c: one request to a Unix socket's HTTP API, with a timeout. Returns the status
 * (body malloc'd in *out, may be NULL) or -errno. */
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
/* A connected stream to the Unix socket sock (petrelctl's console), or -errno. */
int uhttp_connect(const char *sock);

#endif
