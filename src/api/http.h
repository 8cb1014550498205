/* The API's transport: HTTP/1.1 on a Unix socket, served by petrel's own thread (fc_api) with
 * requests parsed by http-parser (keep-alive, pipelining, many clients). Requests go to
 * api_handle(); those that wait for the VM park their connection until the controller
 * answers, so the server thread itself never waits for the guest. */
#ifndef PETREL_API_HTTP_H
#define PETREL_API_HTTP_H

#include <stddef.h>

#include "api/router.h"

struct controller;
struct api_server;

#define API_DEFAULT_MAX_PAYLOAD 51200   /* bytes of request body, as Firecracker's default */

/* Create, bind and listen on the socket at path, then start serving. A stale socket file
 * (nothing listening) is replaced; a live one or another kind of file is an error.
 * Returns 0 or -errno (logged). */
int api_server_start(struct api_server **out, struct controller *ctl, const char *path,
		     size_t max_payload);
/* The server without the Firecracker router: every request goes to handle(ctx, ...), which
 * answers as api_handle() does (API_DONE with *resp, or API_PENDING and done() later). petreld
 * (src/manager) serves its own API so. */
typedef enum api_result (*api_handler_fn)(void *ctx, const char *method, const char *path,
					  const char *body, size_t len, struct api_response *resp,
					  api_done_fn done, void *opaque);
int api_server_start_handler(struct api_server **out, api_handler_fn handle, void *ctx,
			     const char *path, size_t max_payload);
/* Inside a handler, for the request it is handling (opaque is the handler's): the value of
 * request header name (case-insensitive; the first of several), or NULL; the query string
 * after '?' ("" when none). Valid until the handler returns. */
const char *http_request_header(void *opaque, const char *name);
const char *http_request_query(void *opaque);
/* Stop serving, close and remove the socket. Every request must have been answered (the
 * controller's worker stopped) before. */
void api_server_stop(struct api_server *srv);

#endif
