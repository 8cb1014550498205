/* The REST API without the transport: method + path + body in, status + JSON body out.
 *
 * api_handle() routes a request to the controller, validating it against Firecracker's API
 * (paths, methods, JSON bodies: types, required and unknown fields, enums, the state rules)
 * and answering in the spec's shapes: 200 with a JSON body for GETs, 204 without a body for
 * a successful PUT/PATCH, {"fault_message": "..."} with 400 (bad request, or not possible in
 * this state) or 500 (petrel's own failure). It needs no socket, so tests/fuzz drives it
 * directly; api/serve.h puts it behind src/http's HTTP/1.1 server.
 */
#ifndef PETREL_API_ROUTER_H
#define PETREL_API_ROUTER_H

#include "http/response.h"

#include <stddef.h>

struct controller;

/* Handle one request. `path` is the URL path (no query string), body/len the request body
 * (len 0: none; body need not be NUL-terminated). API_DONE: *resp holds the answer.
 * API_PENDING: the answer comes through done(opaque, ...) - only for work that waits on
 * the VM (InstanceStart, PATCH /vm); with done == NULL such requests are refused instead. */
enum api_result api_handle(struct controller *ctl, const char *method, const char *path,
			   const char *body, size_t len, struct api_response *resp,
			   api_done_fn done, void *opaque);

#endif
