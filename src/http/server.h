/* The HTTP server of petrel's API and of petreld's: HTTP/1.1 on a Unix socket (and the
 * connections petreld's TLS listener hands over), served by one thread of its own (fc_api)
 * with requests parsed by http-parser (keep-alive, pipelining, many clients). Every request
 * goes to the handler the server was started with (petrel: api_handle() through
 * api/serve.h; petreld: its own routes); one that waits (for the VM, for a worker) parks its
 * connection until the handler answers, so the server thread itself never waits. */
#ifndef PETREL_HTTP_SERVER_H
#define PETREL_HTTP_SERVER_H

#include <stddef.h>
#include <sys/types.h>

#include "http/response.h"

struct api_server;

#define API_DEFAULT_MAX_PAYLOAD 51200   /* bytes of request body, as Firecracker's default */

/* Create, bind and listen on the socket at path, then start serving: every request goes to
 * handle(ctx, method, path, body, len, resp, done, opaque), which answers at once (API_DONE
 * with *resp) or later (API_PENDING, then done(opaque, resp), from any thread). A stale
 * socket file (nothing listening) is replaced; a live one or another kind of file is an
 * error. Returns 0 or -errno (logged). */
typedef enum api_result (*api_handler_fn)(void *ctx, const char *method, const char *path,
					  const char *body, size_t len, struct api_response *resp,
					  api_done_fn done, void *opaque);
int api_server_start_handler(struct api_server **out, api_handler_fn handle, void *ctx,
			     const char *path, size_t max_payload);
/* Who sent a request (docs/manager.md#who-is-asking). Every connection has one: a client of the
 * Unix socket is known by its peer credentials (SO_PEERCRED), a connection handed over by
 * api_server_adopt (petreld's TLS listener) by what the TLS handshake proved. */
enum api_principal_kind {
	API_PRINCIPAL_UNIX,       /* uid, gid, pid of the process at the other end of the socket */
	API_PRINCIPAL_TLS_CERT,   /* a client certificate the CA signed: subject is its DN */
	API_PRINCIPAL_TLS_ANON,   /* TLS without a client certificate */
};
struct api_principal {
	enum api_principal_kind kind;
	uid_t uid;                /* UNIX (-1 if the kernel would not say) */
	gid_t gid;
	pid_t pid;
	char subject[256];        /* TLS_CERT: RFC 4514 DN, "CN=host-a,O=petrel" */
	char remote[64];          /* TLS: the client's address, "10.0.0.1:40022" */
};
/* In a handler: who sent the request that `opaque` (the handler's argument, the one its done
 * callback takes) stands for. Valid until the request is answered; call it on the server's
 * thread (inside the handler) and copy what outlives the call. */
const struct api_principal *api_request_principal(void *opaque);
/* Serve a connected stream socket fd (petreld's TLS listener hands over the plaintext end of a
 * TLS connection, util/tls.h) as one more connection of srv, whose requests come from *who.
 * Thread-safe. 0, or -errno (fd is closed then). */
int api_server_adopt(struct api_server *srv, int fd, const struct api_principal *who);

/* Inside a handler, for the request it is handling (opaque is the handler's): the value of
 * request header name (case-insensitive; the first of several), or NULL; the query string
 * after '?' ("" when none). Valid until the handler returns. */
const char *http_request_header(void *opaque, const char *name);
const char *http_request_query(void *opaque);
/* Stop serving, close and remove the socket. Every request must have been answered (the
 * handler's pending work ended) before. */
void api_server_stop(struct api_server *srv);

#endif
