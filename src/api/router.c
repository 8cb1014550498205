/* Routing and validation of API requests. See router.h. */
#include "api/router.h"
#include "api/controller.h"
#include "api/router_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PATH_SEGMENTS_MAX 4

/* ---- responses ---- */

enum api_result api_ok_empty(struct call *c)
{
	c->resp->status = 204;
	c->resp->body = NULL;
	return API_DONE;
}

/* 0 -> 204; -ENOMEM -> 500; other errors -> 400 with the message. */
enum api_result api_from_result(struct call *c, int r, const char *msg)
{
	if (r == 0)
		return api_ok_empty(c);
	api_response_fault(c->resp, r == -ENOMEM ? 500 : 400, "%s", msg);
	return API_DONE;
}

enum api_result api_from_json(struct call *c, json_t *obj)
{
	if (!obj) {
		api_response_fault(c->resp, 500, "out of memory");
		return API_DONE;
	}
	api_set_json(c->resp, 200, obj);
	return API_DONE;
}

/* Split "/a/b/c" (one trailing '/' allowed) into segments; -1 if malformed. */
static int split_path(char *p, char **seg, int max)
{
	if (p[0] != '/')
		return -1;
	p++;
	size_t n = strlen(p);
	if (n > 1 && p[n - 1] == '/')   /* "/machine-config/", but not "//" */
		p[--n] = '\0';
	if (!n)
		return 0;
	int count = 0;
	for (;;) {
		char *slash = strchr(p, '/');
		if (count == max)
			return -1;
		seg[count++] = p;
		if (!slash)
			break;
		*slash = '\0';
		p = slash + 1;
	}
	for (int i = 0; i < count; i++)
		if (!seg[i][0])
			return -1;
	return count;
}

/* Match segments against a route pattern; sets *id for a "*" segment. */
static bool match(const char *pattern, char **seg, int nseg, const char **id)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "%s", pattern);
	char *pseg[PATH_SEGMENTS_MAX];
	int np = 0;
	if (pat[0]) {
		for (char *s = pat;; ) {
			pseg[np++] = s;
			char *slash = strchr(s, '/');
			if (!slash)
				break;
			*slash = '\0';
			s = slash + 1;
		}
	}
	if (np != nseg)
		return false;
	for (int i = 0; i < np; i++) {
		if (!strcmp(pseg[i], "*"))
			*id = seg[i];
		else if (strcmp(pseg[i], seg[i]) != 0)
			return false;
	}
	return true;
}

static bool method_in(const char *method, const char *list)
{
	size_t n = strlen(method);
	for (const char *p = list; p && *p; ) {
		const char *sp = strchr(p, ' ');
		size_t len = sp ? (size_t)(sp - p) : strlen(p);
		if (len == n && !strncmp(p, method, n))
			return true;
		p = sp ? sp + 1 : NULL;
	}
	return false;
}

/* Fields Firecracker marks deprecated: it answers requests that use them with a
 * "Deprecation" header (and still serves them). */
static bool uses_deprecated(const char *path, json_t *body)
{
	static const struct { const char *path, *field; } fields[] = {
		{ "/machine-config", "cpu_template" },
		{ "/vsock", "vsock_id" },
		{ "/snapshot/load", "mem_file_path" },
		{ "/snapshot/load", "enable_diff_snapshots" },
		{ "/snapshot/create", "version" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		json_t *v = json_object_get(body, fields[i].field);
		if (v && !json_is_null(v) && !strcmp(path, fields[i].path))
			return true;
	}
	return false;
}

static enum api_result route_request(struct controller *ctl, const char *method, const char *path,
				     const char *body, size_t len, struct api_response *resp,
				     api_done_fn done, void *opaque, const struct method **counted)
{
	char buf[512];
	char *seg[PATH_SEGMENTS_MAX];
	const char *id = NULL;
	const struct route *rt = NULL;

	int nseg = strlen(path) < sizeof(buf) ? (snprintf(buf, sizeof(buf), "%s", path),
						   split_path(buf, seg, PATH_SEGMENTS_MAX)) : -1;
	for (size_t i = 0; nseg >= 0 && i < api_nroutes && !rt; i++)
		if (match(api_routes[i].path, seg, nseg, &id))
			rt = &api_routes[i];

	int g = !strcmp(method, "GET") ? 0 : !strcmp(method, "PUT") ? 1 : !strcmp(method, "PATCH") ? 2 : -1;
	const struct method *m = NULL;
	if (rt && g >= 0)
		m = g == 0 ? &rt->get : g == 1 ? &rt->put : &rt->patch;
	if (rt && rt->unsupported && method_in(method, rt->unsupported_methods)) {
		api_response_fault(resp, 400, "%s %s: %s", method, path, rt->unsupported);
		return API_DONE;
	}
	if (!m || !m->fn) {
		api_response_fault(resp, 400, "Invalid request method and/or path: %s %s.", method, path);
		return API_DONE;
	}
	*counted = m;

	if (g == 0) {
		if (len) {
			api_response_fault(resp, 400, "GET %s takes no request body", path);
			return API_DONE;
		}
		struct call c = { ctl, method, path, id, NULL, m->counter, resp, done, opaque };
		return m->fn(&c);
	}
	if ((!len && (rt->body & ROUTE_BODY_OPTIONAL)) || (rt->body & ROUTE_BODY_IGNORED)) {
		struct call c = { ctl, method, path, id, NULL, m->counter, resp, done, opaque };
		return m->fn(&c);
	}
	if (!len) {
		api_response_fault(resp, 400, "%s %s needs a JSON request body", method, path);
		return API_DONE;
	}
	json_error_t jerr;
	bool any = rt->body & ROUTE_BODY_ANY_JSON;
	json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES | (any ? JSON_DECODE_ANY : 0), &jerr);
	if (!obj) {
		api_response_fault(resp, 400, "invalid JSON in the request body at line %d, column "
				   "%d: %s", jerr.line, jerr.column, jerr.text);
		return API_DONE;
	}
	if (!any && !json_is_object(obj)) {
		json_decref(obj);
		api_response_fault(resp, 400, "the request body must be a JSON object");
		return API_DONE;
	}
	resp->deprecated = uses_deprecated(path, obj);
	struct call c = { ctl, method, path, id, obj, m->counter, resp, done, opaque };
	enum api_result r = m->fn(&c);
	json_decref(obj);
	return r;
}

/* As Firecracker does, every request at Info: 'The API server received a Put request on
 * "/actions" with body "...".' The metadata store's bodies are left out (they may hold secrets);
 * long bodies are cut. http_printable() keeps control characters out of the line. */
static void log_request(const char *method, const char *path, const char *body, size_t len)
{
	if (log_get_level() < LOG_INFO)
		return;
	char m[16], p[128], b[513];
	snprintf(m, sizeof(m), "%s", method);
	for (char *c = m; *c; c++)   /* PUT -> Put, as Firecracker writes it */
		if (c > m && *c >= 'A' && *c <= 'Z')
			*c = (char)(*c + 32);
	snprintf(p, sizeof(p), "%s", path);
	http_printable(p);
	if (!body || !len || !strncmp(path, "/mmds", 5)) {
		log_info("The API server received a %s request on \"%s\".", m, p);
		return;
	}
	size_t n = len < sizeof(b) - 1 ? len : sizeof(b) - 1;
	memcpy(b, body, n);
	b[n] = 0;
	http_printable(b);
	log_info("The API server received a %s request on \"%s\" with body \"%s%s\".", m, p, b,
		 len > n ? "..." : "");
}

enum api_result api_handle(struct controller *ctl, const char *method, const char *path,
			   const char *body, size_t len, struct api_response *resp,
			   api_done_fn done, void *opaque)
{
	const struct method *m = NULL;   /* set once the request has a handler: it counts */
	*resp = (struct api_response){ .status = 500 };
	log_request(method, path, body, len);
	enum api_result r = route_request(ctl, method, path, body, len, resp, done, opaque, &m);
	if (r == API_PENDING) {
		log_debug("API %s %s: in progress", method, path);
		return r;
	}
	if (m)
		ctl_count_request(ctl, m->counter, resp->status >= 400);
	if (resp->deprecated)
		__atomic_fetch_add(&ctl->deprecated_api_calls, 1, __ATOMIC_RELAXED);
	if (resp->status >= 400) {
		char p[128];
		snprintf(p, sizeof(p), "%s", path);
		http_printable(p);
		log_info("API %s %s: %u %s", method, p, resp->status, resp->body ? resp->body : "");
	} else {
		log_debug("API %s %s: %u", method, path, resp->status);
	}
	return r;
}
