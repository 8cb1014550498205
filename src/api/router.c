/* Routing and validation of API requests. See router.h. */
#include "api/router.h"
#include "api/controller.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PATH_SEGMENTS_MAX 4
#define FAULT_MAX 1024

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
};

/* ---- responses ---- */

void api_response_free(struct api_response *resp)
{
	free(resp->body);
	resp->body = NULL;
}

/* Fault messages may quote what the client sent: keep them printable ASCII so the JSON
 * encoder never meets invalid UTF-8 and logs cannot be forged. */
static void sanitize(char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch < 0x20 || ch >= 0x7f)
			*s = '?';
	}
}

static void set_json(struct api_response *resp, unsigned status, json_t *body)
{
	resp->status = status;
	resp->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!resp->body) {
		resp->status = 500;
		resp->body = strdup("{\"fault_message\":\"out of memory\"}");
	}
}

void api_response_fault(struct api_response *resp, unsigned status, const char *fmt, ...)
{
	char msg[FAULT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sanitize(msg);
	set_json(resp, status, json_pack("{s:s}", "fault_message", msg));
}

static enum api_result ok_empty(struct call *c)
{
	c->resp->status = 204;
	c->resp->body = NULL;
	return API_DONE;
}

/* 0 -> 204; -ENOMEM -> 500; other errors -> 400 with the message. */
static enum api_result from_result(struct call *c, int r, const char *msg)
{
	if (r == 0)
		return ok_empty(c);
	api_response_fault(c->resp, r == -ENOMEM ? 500 : 400, "%s", msg);
	return API_DONE;
}

static enum api_result from_json(struct call *c, json_t *obj)
{
	if (!obj) {
		api_response_fault(c->resp, 500, "out of memory");
		return API_DONE;
	}
	set_json(c->resp, 200, obj);
	return API_DONE;
}

/* ---- handlers ---- */

static enum api_result get_instance_info(struct call *c)
{
	return from_json(c, ctl_instance_info(c->ctl));
}

static enum api_result get_version(struct call *c)
{
	return from_json(c, json_pack("{s:s}", "firecracker_version", PETREL_VERSION));
}

static enum api_result get_machine_config(struct call *c)
{
	return from_json(c, ctl_machine_config(c->ctl));
}

static enum api_result get_vm_config(struct call *c)
{
	return from_json(c, ctl_vm_config(c->ctl));
}

#define SIMPLE_PUT(name, call_expr)                                                            \
	static enum api_result name(struct call *c)                                            \
	{                                                                                      \
		char msg[FAULT_MAX];                                                           \
		int r = (call_expr);                                                           \
		return from_result(c, r, msg);                                                 \
	}

SIMPLE_PUT(put_boot_source, ctl_put_boot_source(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_machine_config, ctl_put_machine_config(c->ctl, c->body, false, msg, sizeof(msg)))
SIMPLE_PUT(patch_machine_config, ctl_put_machine_config(c->ctl, c->body, true, msg, sizeof(msg)))
SIMPLE_PUT(put_cpu_config, ctl_put_cpu_config(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_logger, ctl_put_logger(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_metrics, ctl_put_metrics(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_serial, ctl_put_serial(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_drive, ctl_put_drive(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_drive, ctl_patch_drive(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_net, ctl_put_net(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_net, ctl_patch_net(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_vsock, ctl_put_vsock(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_entropy, ctl_put_entropy(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_balloon, ctl_put_balloon(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_balloon, ctl_patch_balloon(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_balloon_stats, ctl_patch_balloon_stats(c->ctl, c->body, msg, sizeof(msg)))

/* GETs that may fail with a 400 (docs/balloon.md). */
static enum api_result get_balloon_common(struct call *c, bool stats)
{
	char msg[FAULT_MAX];
	json_t *o;
	int r = stats ? ctl_get_balloon_stats(c->ctl, &o, msg, sizeof(msg))
		      : ctl_get_balloon(c->ctl, &o, msg, sizeof(msg));
	return r < 0 ? from_result(c, r, msg) : from_json(c, o);
}
static enum api_result get_balloon(struct call *c) { return get_balloon_common(c, false); }
static enum api_result get_balloon_stats(struct call *c) { return get_balloon_common(c, true); }

/* MMDS (docs/mmds.md): a PUT or PATCH over the data store limit is Firecracker's 413. */
static enum api_result put_or_patch_mmds(struct call *c, bool patch)
{
	char msg[FAULT_MAX];
	int r = ctl_put_mmds(c->ctl, c->body, patch, msg, sizeof(msg));
	if (r == -E2BIG) {
		api_response_fault(c->resp, 413, "%s", msg);
		return API_DONE;
	}
	return from_result(c, r, msg);
}
static enum api_result put_mmds(struct call *c) { return put_or_patch_mmds(c, false); }
static enum api_result patch_mmds(struct call *c) { return put_or_patch_mmds(c, true); }
static enum api_result get_mmds(struct call *c) { return from_json(c, ctl_get_mmds(c->ctl)); }
static enum api_result put_mmds_config(struct call *c)
{
	/* Firecracker marks V1 (also when it is the default) deprecated. */
	json_t *v = json_object_get(c->body, "version");
	c->resp->deprecated = !v || json_is_null(v) || (json_is_string(v) && !strcmp(json_string_value(v), "V1"));
	char msg[FAULT_MAX];
	int r = ctl_put_mmds_config(c->ctl, c->body, msg, sizeof(msg));
	return from_result(c, r, msg);
}

/* Work that waits for the VM goes to the controller's worker; this carries the answer back. */
struct pending {
	struct controller *ctl;
	enum api_counter counter;
	api_done_fn done;
	void *opaque;
	bool deprecated;
};

static void pending_done(void *opaque, int err, const char *msg)
{
	struct pending *p = opaque;
	struct api_response resp = { 204, NULL, p->deprecated };
	if (err)
		api_response_fault(&resp, err == -ENOMEM ? 500 : 400, "%s",
				   msg ? msg : strerror(-err));
	ctl_count_request(p->ctl, p->counter, resp.status >= 400);
	if (resp.status >= 400)
		log_info("API request failed (%u): %s", resp.status, msg ? msg : "");
	p->done(p->opaque, &resp);
	free(p);
}

static enum api_result submit_arg(struct call *c, enum ctl_action action, void *arg);

static enum api_result submit(struct call *c, enum ctl_action action)
{
	return submit_arg(c, action, NULL);
}

/* The argument of an action that never reached the controller. */
static void drop_arg(enum ctl_action action, void *arg)
{
	if (action == CTL_ACTION_SNAPSHOT)
		ctl_snapshot_request_free(arg);
}

static enum api_result submit_arg(struct call *c, enum ctl_action action, void *arg)
{
	if (!c->done) {
		drop_arg(action, arg);
		api_response_fault(c->resp, 400, "this request cannot be served here");
		return API_DONE;
	}
	struct pending *p = malloc(sizeof(*p));
	if (!p) {
		drop_arg(action, arg);
		api_response_fault(c->resp, 500, "out of memory");
		return API_DONE;
	}
	*p = (struct pending){ c->ctl, c->counter, c->done, c->opaque, c->resp->deprecated };
	int r = ctl_submit_arg(c->ctl, action, arg, pending_done, p);
	if (r < 0) {
		free(p);
		drop_arg(action, arg);
		api_response_fault(c->resp, r == -ENOMEM ? 500 : 400, "%s",
				   r == -ESHUTDOWN ? "petrel is shutting down" : strerror(-r));
		return API_DONE;
	}
	return API_PENDING;
}

/* A body of exactly one string field whose value is one of `values`. */
static int one_enum_field(json_t *body, const char *field, const char *const *values,
			  const char **out, char *msg, size_t len)
{
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		if (strcmp(key, field) != 0) {
			snprintf(msg, len, "%s: unknown field", key);
			return -EINVAL;
		}
	}
	json_t *v = json_object_get(body, field);
	if (!v) {
		snprintf(msg, len, "%s: missing required field", field);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		snprintf(msg, len, "%s: expected a string", field);
		return -EINVAL;
	}
	for (const char *const *p = values; *p; p++) {
		if (!strcmp(*p, json_string_value(v)) &&
		    strlen(json_string_value(v)) == json_string_length(v)) {
			*out = *p;
			return 0;
		}
	}
	char list[128] = "";
	for (const char *const *p = values; *p; p++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 p == values ? "" : ", ", *p);
	snprintf(msg, len, "%s: '%s' is not one of %s", field, json_string_value(v), list);
	return -EINVAL;
}

static enum api_result put_actions(struct call *c)
{
	static const char *const actions[] = { "FlushMetrics", "InstanceStart", "SendCtrlAltDel",
					       NULL };
	char msg[FAULT_MAX];
	const char *action;
	int r = one_enum_field(c->body, "action_type", actions, &action, msg, sizeof(msg));
	if (r < 0)
		return from_result(c, r, msg);
	if (!strcmp(action, "InstanceStart")) {
		if ((r = ctl_check_start(c->ctl, msg, sizeof(msg))) < 0)
			return from_result(c, r, msg);
		return submit(c, CTL_ACTION_START);
	}
	if (!strcmp(action, "SendCtrlAltDel"))
		r = ctl_send_ctrl_alt_del(c->ctl, msg, sizeof(msg));
	else
		r = ctl_flush_metrics(c->ctl, msg, sizeof(msg));
	return from_result(c, r, msg);
}

static enum api_result patch_vm(struct call *c)
{
	static const char *const states[] = { "Paused", "Resumed", NULL };
	char msg[FAULT_MAX];
	const char *state;
	int r = one_enum_field(c->body, "state", states, &state, msg, sizeof(msg));
	if (r == 0)
		r = ctl_check_vm_state_change(c->ctl, msg, sizeof(msg));
	if (r < 0)
		return from_result(c, r, msg);
	return submit(c, !strcmp(state, "Paused") ? CTL_ACTION_PAUSE : CTL_ACTION_RESUME);
}

static enum api_result put_snapshot(struct call *c, enum snapshot_request_kind kind)
{
	char msg[FAULT_MAX];
	struct snapshot_request *q;
	int r = ctl_snapshot_parse(c->body, kind, &q, msg, sizeof(msg));
	if (r < 0)
		return from_result(c, r, msg);
	return submit_arg(c, CTL_ACTION_SNAPSHOT, q);
}

static enum api_result put_snapshot_create(struct call *c) { return put_snapshot(c, SNAP_REQ_CREATE); }
static enum api_result put_snapshot_load(struct call *c) { return put_snapshot(c, SNAP_REQ_LOAD); }
/* petrel's own: a backup of the running VM (docs/snapshots.md). */
static enum api_result put_snapshot_backup(struct call *c) { return put_snapshot(c, SNAP_REQ_BACKUP); }

/* petrel's own: live migration (docs/migration.md). */
SIMPLE_PUT(put_migration_receive, ctl_migration_receive(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_migration_send, ctl_migration_send(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_replication, ctl_replication_put(c->ctl, c->body, msg, sizeof(msg)))
static enum api_result get_replication(struct call *c)
{
	return from_json(c, ctl_replication_status(c->ctl));
}
static enum api_result get_migration(struct call *c)
{
	return from_json(c, ctl_migration_status(c->ctl));
}

static const struct route routes[] = {
	{ "", .get = { get_instance_info, API_GET_INSTANCE_INFO } },
	{ "version", .get = { get_version, API_GET_VMM_VERSION } },
	{ "machine-config", .get = { get_machine_config, API_GET_MACHINE_CFG },
	  .put = { put_machine_config, API_PUT_MACHINE_CFG },
	  .patch = { patch_machine_config, API_PATCH_MACHINE_CFG } },
	{ "vm/config", .get = { get_vm_config, API_GET_VM_CONFIG } },
	{ "vm", .patch = { patch_vm, API_PATCH_VM } },
	{ "actions", .put = { put_actions, API_PUT_ACTIONS } },
	{ "boot-source", .put = { put_boot_source, API_PUT_BOOT_SOURCE } },
	{ "cpu-config", .put = { put_cpu_config, API_PUT_CPU_CFG } },
	{ "logger", .put = { put_logger, API_PUT_LOGGER } },
	{ "metrics", .put = { put_metrics, API_PUT_METRICS } },
	{ "serial", .put = { put_serial, API_PUT_SERIAL } },
	{ "drives/*", .put = { put_drive, API_PUT_DRIVE }, .patch = { patch_drive, API_PATCH_DRIVE } },
	{ "network-interfaces/*", .put = { put_net, API_PUT_NETWORK },
	  .patch = { patch_net, API_PATCH_NETWORK } },
	{ "vsock", .put = { put_vsock, API_PUT_VSOCK } },
	{ "entropy", .put = { put_entropy, API_PUT_ENTROPY } },
	{ "balloon", .get = { get_balloon, API_GET_BALLOON }, .put = { put_balloon, API_PUT_BALLOON },
	  .patch = { patch_balloon, API_PATCH_BALLOON } },
	{ "balloon/statistics", .get = { get_balloon_stats, API_GET_BALLOON },
	  .patch = { patch_balloon_stats, API_PATCH_BALLOON } },
	{ "snapshot/create", .put = { put_snapshot_create, API_PUT_SNAPSHOT } },
	{ "snapshot/load", .put = { put_snapshot_load, API_PUT_SNAPSHOT } },
	{ "snapshot/backup", .put = { put_snapshot_backup, API_PUT_SNAPSHOT } },
	{ "migration", .get = { get_migration, API_GET_MIGRATION } },
	{ "migration/receive", .put = { put_migration_receive, API_PUT_MIGRATION } },
	{ "migration/send", .put = { put_migration_send, API_PUT_MIGRATION } },
	{ "replication", .get = { get_replication, API_GET_REPLICATION }, .put = { put_replication, API_PUT_REPLICATION } },
	/* In the spec, not in petrel yet. */
	{ "balloon/hinting/start", .unsupported_methods = "PATCH", .unsupported = "free page hinting is not supported yet" },
	{ "balloon/hinting/status", .unsupported_methods = "GET", .unsupported = "free page hinting is not supported yet" },
	{ "balloon/hinting/stop", .unsupported_methods = "PATCH", .unsupported = "free page hinting is not supported yet" },
	{ "mmds", .get = { get_mmds, API_GET_MMDS }, .put = { put_mmds, API_PUT_MMDS },
	  .patch = { patch_mmds, API_PATCH_MMDS } },
	{ "mmds/config", .put = { put_mmds_config, API_PUT_MMDS } },
	{ "pmem/*", .unsupported_methods = "PUT PATCH", .unsupported = "pmem devices are not supported yet" },
	{ "hotplug/memory", .unsupported_methods = "GET PUT PATCH", .unsupported = "memory hotplug is not supported yet" },
};

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
	for (size_t i = 0; nseg >= 0 && i < ARRAY_SIZE(routes) && !rt; i++)
		if (match(routes[i].path, seg, nseg, &id))
			rt = &routes[i];

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
	if (!len) {
		api_response_fault(resp, 400, "%s %s needs a JSON request body", method, path);
		return API_DONE;
	}
	json_error_t jerr;
	json_t *obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj) {
		api_response_fault(resp, 400, "invalid JSON in the request body at line %d, column "
				   "%d: %s", jerr.line, jerr.column, jerr.text);
		return API_DONE;
	}
	if (!json_is_object(obj)) {
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
 * long bodies are cut. sanitize() keeps control characters out of the line. */
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
	sanitize(p);
	if (!body || !len || !strncmp(path, "/mmds", 5)) {
		log_info("The API server received a %s request on \"%s\".", m, p);
		return;
	}
	size_t n = len < sizeof(b) - 1 ? len : sizeof(b) - 1;
	memcpy(b, body, n);
	b[n] = 0;
	sanitize(b);
	log_info("The API server received a %s request on \"%s\" with body \"%s%s\".", m, p, b,
		 len > n ? "..." : "");
}

enum api_result api_handle(struct controller *ctl, const char *method, const char *path,
			   const char *body, size_t len, struct api_response *resp,
			   api_done_fn done, void *opaque)
{
	const struct method *m = NULL;   /* set once the request has a handler: it counts */
	resp->status = 500;
	resp->body = NULL;
	resp->deprecated = false;
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
		sanitize(p);
		log_info("API %s %s: %u %s", method, p, resp->status, resp->body ? resp->body : "");
	} else {
		log_debug("API %s %s: %u", method, path, resp->status);
	}
	return r;
}
