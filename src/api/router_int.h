/* What the router (router.c: paths, methods, bodies) and the handlers (routes.c: one function
 * per endpoint and the table of routes) share. Private to src/api. */
#ifndef PETREL_API_ROUTER_INT_H
#define PETREL_API_ROUTER_INT_H

#include "api/controller.h"
#include "api/router.h"

#include <jansson.h>
#include <stddef.h>

/* One request on its way through a handler. */
struct call {
	struct controller *ctl;
	const char *method;
	const char *path;
	const char *id;           /* the {id} segment, or NULL */
	json_t *body;             /* parsed object (PUT/PATCH), or NULL */
	enum api_counter counter; /* what the request counts under (metrics) */
	struct api_response *resp;
	api_done_fn done;
	void *opaque;
};

typedef enum api_result (*handler_fn)(struct call *c);

/* One method of a route: its handler (NULL: none) and the counter its requests count under. */
struct method {
	handler_fn fn;
	enum api_counter counter;
};

struct route {
	const char *path;         /* '/'-separated; "*" is one {id} segment */
	struct method get, put, patch;
	/* In the spec but not implemented: the methods the spec has, and what to say. */
	const char *unsupported_methods;
	const char *unsupported;
	unsigned body;            /* ROUTE_BODY_*: what PUT and PATCH bodies may be */
};
/* Without flags a PUT or PATCH needs a body holding a JSON object. */
#define ROUTE_BODY_OPTIONAL 1u    /* no body at all is fine: the handler gets body NULL */
#define ROUTE_BODY_ANY_JSON 2u    /* any JSON value (the metadata store), not only an object */
#define ROUTE_BODY_IGNORED 4u     /* a body is not read at all (Firecracker's hinting/stop): NULL */

/* The routes, in matching order (routes.c). */
extern const struct route api_routes[];
extern const size_t api_nroutes;

/* Answers (router.c; api_set_json and api_response_fault: http/response.h). */
enum api_result api_ok_empty(struct call *c);
/* 0 -> 204; -ENOMEM -> 500; other errors -> 400 with the message. */
enum api_result api_from_result(struct call *c, int r, const char *msg);
/* 200 with obj (taken), or 500 when it is NULL. */
enum api_result api_from_json(struct call *c, json_t *obj);

#endif
