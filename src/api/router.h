/* The REST API without the transport: method + path + body in, status + JSON body out.
 *
 * api_handle() routes a request to the controller, validating it against Firecracker's API
 * (paths, methods, JSON bodies: types, required and unknown fields, enums, the state rules)
 * and answering in the spec's shapes: 200 with a JSON body for GETs, 204 without a body for
 * a successful PUT/PATCH, {"fault_message": "..."} with 400 (bad request, or not possible in
 * this state) or 500 (petrel's own failure). It needs no socket, so tests/fuzz drives it
 * directly; src/api/http.c and http_conn.c put it behind HTTP/1.1.
 */
#ifndef PETREL_API_ROUTER_H
#define PETREL_API_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

struct controller;

struct api_response {
	unsigned status;   /* HTTP status */
	char *body;        /* malloc'd JSON text, or NULL for no body (204) */
	bool deprecated;   /* the request used a deprecated field: a "Deprecation: true" header */
	/* A long-lived answer (petreld's GET /events): the server sends the head with no length,
	 * then gives the connection's descriptor to stream(stream_opaque, fd), which owns it from
	 * then on (fd -1: the client went away first); body is not sent. NULL for every ordinary answer. */
	void (*stream)(void *stream_opaque, int fd);
	void *stream_opaque;
	/* petreld's web page (src/manager/web*.c): a body that is not JSON (a static file) of
	 * body_len bytes (0: strlen) and its Content-Type (NULL: JSON), and more header lines
	 * ("Name: value\r\n"..., malloc'd: Set-Cookie, security headers, a WebSocket's accept). */
	const char *content_type;
	size_t body_len;
	char *headers;
};

/* Called once with the answer of a request that api_handle() left pending; takes ownership
 * of resp->body. May run on another thread, even before api_handle() has returned. */
typedef void (*api_done_fn)(void *opaque, struct api_response *resp);

enum api_result { API_DONE = 0, API_PENDING = 1 };

/* Handle one request. `path` is the URL path (no query string), body/len the request body
 * (len 0: none; body need not be NUL-terminated). API_DONE: *resp holds the answer.
 * API_PENDING: the answer comes through done(opaque, ...) - only for work that waits on
 * the VM (InstanceStart, PATCH /vm); with done == NULL such requests are refused instead. */
enum api_result api_handle(struct controller *ctl, const char *method, const char *path,
			   const char *body, size_t len, struct api_response *resp,
			   api_done_fn done, void *opaque);

/* A {"fault_message": ...} response. */
void api_response_fault(struct api_response *resp, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void api_response_free(struct api_response *resp);

#endif
