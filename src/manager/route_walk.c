/* The walk of petreld's route tables (routes.c): a request's path matched against a table of
 * routes, its "*" segments and subtrees, and the handler for its method, or the 404 or 405
 * that says why there is none. */
#include "manager/route_walk.h"
#include "manager/answer.h"
#include "manager/definition.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The name at the start of rest (up to a '/') into out: its length, or 0 if it is no name. */
size_t route_path_name(const char *rest, char out[VM_NAME_MAX + 2])
{
	size_t n = strcspn(rest, "/");
	if (n > VM_NAME_MAX)
		return 0;
	memcpy(out, rest, n);
	out[n] = '\0';
	return mgr_vm_name_ok(out) ? n : 0;
}

/* Whether path (relative, "" for the root) is route's: 1 yes (c->rest, c->star filled), 0 no,
 * or -1 when a "*" segment holds no name (then route->star_fault is the answer). */
static int route_match(const struct route *rt, const char *path, struct call *c)
{
	const char *p = rt->path, *q = path;
	while (*p) {
		if (*p == '*') {
			size_t n = route_path_name(q, c->star);
			if (!n)
				return -1;
			p++;
			q += n;
			continue;
		}
		if (*p++ != *q++)
			return 0;
	}
	if (!*q) {
		c->rest = NULL;
		return 1;
	}
	if (rt->subtree && *q == '/' && rt->path[0]) {
		c->rest = q + 1;
		return 1;
	}
	return 0;
}

static const struct { const char *method; size_t offset; } methods[] = {
	{ "GET", offsetof(struct route, get) }, { "POST", offsetof(struct route, post) },
	{ "PUT", offsetof(struct route, put) }, { "PATCH", offsetof(struct route, patch) },
	{ "DELETE", offsetof(struct route, del) },
};

static handler_fn method_fn(const struct route *rt, size_t i)
{
	return *(const handler_fn *)((const char *)rt + methods[i].offset);
}

enum api_result route_dispatch(const struct route *rt, struct call *c)
{
	if (rt->any)
		return rt->any(c);
	const char *names[5];
	size_t n = 0, off = 0;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (method_fn(rt, i) && !strcmp(c->method, methods[i].method))
			return method_fn(rt, i)(c);
		if (method_fn(rt, i))
			names[n++] = methods[i].method;
	}
	char allow[64] = "";   /* "GET, PUT or PATCH": the methods route has */
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(allow + off, sizeof(allow) - off, "%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ", names[i]);
	return mgr_answer_fault(c->r, 405, allow);
}

/* The route of path in routes (n of them), or NULL; *res is the answer when a "*" segment
 * held no name. */
const struct route *route_find(const struct route *routes, size_t n, const char *path, struct call *c,
			      enum api_result *res)
{
	for (size_t i = 0; i < n; i++) {
		int k = route_match(&routes[i], path, c);
		if (k < 0) {
			*res = mgr_answer_fault(c->r, 404, routes[i].star_fault);
			return NULL;
		}
		if (k)
			return &routes[i];
	}
	*res = mgr_answer_fault(c->r, 404, "unknown path");
	return NULL;
}
