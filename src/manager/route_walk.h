/* petreld's routes as tables (route_walk.c): a request as a handler sees it, a route, and the
 * walk that finds a path's route and calls its handler. routes.c holds the tables. */
#ifndef PETREL_MANAGER_ROUTE_WALK_H
#define PETREL_MANAGER_ROUTE_WALK_H

#include "manager/definition.h"
#include "http/server.h"

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_vm;
struct api_principal;

/* One request, as a route's handler sees it. */
struct call {
	struct manager *m;
	const char *method, *path, *body;
	size_t len;
	const struct api_principal *who;
	struct api_response *r;
	api_done_fn done;
	void *opaque;
	struct mgr_vm *vm;          /* a VM's routes: the VM */
	const char *rest;           /* a subtree's route: the path below it, or NULL */
	char star[VM_NAME_MAX + 2]; /* the name a "*" segment matched */
};

typedef enum api_result (*handler_fn)(struct call *c);

/* A path and its handler per method; a method without one is answered 405 with the ones there
 * are. subtree: the route also takes every path below it (c->rest) and its handler (any)
 * answers every method itself. "*" is one segment, a name (1 to 64 of [A-Za-z0-9-]): a path
 * whose segment there is none is answered 404 with star_fault. unlocked: without m->lock (the
 * handler takes it if it needs it). */
struct route {
	const char *path;
	handler_fn get, post, put, patch, del, any;
	bool subtree, unlocked;
	const char *star_fault;
};

/* The name at the start of rest (up to a '/') into out: its length, or 0 if it is no name. */
size_t route_path_name(const char *rest, char out[VM_NAME_MAX + 2]);
/* The route of path in routes (n of them), or NULL; *res is the answer when there is none (404:
 * no such path, or route->star_fault when a "*" segment held no name). c->rest, c->star filled. */
const struct route *route_find(const struct route *routes, size_t n, const char *path, struct call *c,
			       enum api_result *res);
/* rt's handler for c->method (any: for every method), or 405 with the methods it has. */
enum api_result route_dispatch(const struct route *rt, struct call *c);

#endif
