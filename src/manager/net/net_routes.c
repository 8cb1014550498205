/* petreld's API of host networks (net_routes.h). */
#include "manager/net/net_routes.h"
#include "config/devices_config.h"
#include "manager/net/leases.h"
#include "manager/net/net_inventory.h"
#include "manager/net/net_verbs.h"
#include "manager/answer.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The network's leases as dnsmasq's file has them (leases_parse: IPv4 leases, host names as it
 * sanitizes them); *count of them. A file that cannot be read is logged and has none. */
static struct lease *read_leases(struct manager *m, struct mgr_net *n, size_t *count)
{
	char path[PATH_MAX], err[256];
	struct lease *ls = NULL;
	snprintf(path, sizeof(path), "%s/networks/%s/leases", m->state_dir, n->def.name);
	if (n->def.kind == NET_BRIDGE || leases_read_file(path, &ls, count, err, sizeof(err)) < 0) {
		if (n->def.kind != NET_BRIDGE)
			log_warn("network %s: %s", n->def.name, err);
		*count = 0;
	}
	return ls;
}

static size_t lease_count(struct manager *m, struct mgr_net *n)
{
	size_t count;
	free(read_leases(m, n, &count));
	return count;
}

/* The leases, each with the VM whose reservation has its MAC ("" when none). */
static json_t *leases(struct manager *m, struct mgr_net *n)
{
	json_t *a = json_array();
	size_t count;
	_cleanup_free_ struct lease *ls = read_leases(m, n, &count);
	for (size_t i = 0; i < count; i++) {
		const char *vm = "";
		for (size_t k = 0; k < n->def.nres; k++)
			if (!memcmp(n->def.res[k].mac, ls[i].mac, 6))
				vm = n->def.res[k].vm;
		char mac[18], ip[INET_ADDRSTRLEN];
		mac_format(ls[i].mac, mac);
		inet_ntop(AF_INET, &ls[i].ip, ip, sizeof(ip));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I, s:s}", "mac", mac, "ip", ip, "hostname",
						  ls[i].hostname, "expiry", (json_int_t)ls[i].expiry, "vm", vm));
	}
	return a;
}

static json_t *brief(struct manager *m, struct mgr_net *n)
{
	char sub[32];
	unsigned vms = 0;
	net_def_subnet(&n->def, sub, sizeof(sub));
	mgr_net_named_by(m, n->def.name, &vms);
	return json_pack("{s:s, s:s, s:s, s:b, s:b, s:s, s:i, s:I}", "name", n->def.name, "kind",
			 net_kind_name(n->def.kind), "bridge", n->def.bridge, "active", n->active, "autostart",
			 n->def.autostart, "subnet", sub, "vms", (int)vms, "leases", (json_int_t)lease_count(m, n));
}

static json_t *info(struct manager *m, struct mgr_net *n)
{
	char digest[65];
	net_def_digest(&n->def, digest);
	return json_pack("{s:O, s:b, s:s, s:{s:i, s:i}, s:o, s:s, s:s}", "definition", n->def.doc, "active", n->active,
			 "bridge", n->def.bridge, "dnsmasq", "pid", (int)n->dnsmasq_pid, "restarts", (int)n->restarts,
			 "leases", leases(m, n), "digest", digest, "running_digest", n->digest);
}

static enum api_result fault(struct api_response *r, int e, const char *err)
{
	return mgr_answer_fault(r, mgr_status_of(e), err);
}

static enum api_result not_allowed(struct api_response *r, const char *allow)
{
	return mgr_answer_fault(r, 405, allow);
}

static enum api_result collection(struct manager *m, const char *method, const char *body, size_t len,
				  struct api_response *r)
{
	char err[512];
	if (!strcmp(method, "GET")) {
		json_t *a = json_array();
		for (struct mgr_net *n = m->nets; n; n = n->next)
			json_array_append_new(a, brief(m, n));
		return mgr_answer_json(r, 200, a);
	}
	if (strcmp(method, "POST"))
		return not_allowed(r, "GET or POST");
	struct mgr_net *n;
	int e = net_define(m, body ? body : "", body ? len : 0, &n, err, sizeof(err));
	return e < 0 ? fault(r, e, err) : mgr_answer_json(r, 201, brief(m, n));
}

static enum api_result put_autostart(struct manager *m, struct mgr_net *n, const char *body, size_t len,
				     struct api_response *r)
{
	char err[512];
	json_t *o = body ? json_loadb(body, len, 0, NULL) : NULL;
	json_t *v = json_object_get(o, "autostart");
	bool ok = json_is_boolean(v) && json_object_size(o) == 1, on = json_is_true(v);
	json_decref(o);
	if (!ok)
		return mgr_answer_fault(r, 400, "expected {\"autostart\": true or false}");
	int e = net_set_autostart(m, n, on, err, sizeof(err));
	return e < 0 ? fault(r, e, err) : mgr_answer_json(r, 200, brief(m, n));
}

enum api_result net_route(struct manager *m, const char *method, const char *rest, const char *body, size_t len,
			  struct api_response *r)
{
	if (!rest)
		return collection(m, method, body, len, r);
	char name[NET_NAME_MAX + 1], err[512];
	size_t k = strcspn(rest, "/");
	const char *sub = rest[k] ? rest + k + 1 : NULL;
	if (k > NET_NAME_MAX || !(memcpy(name, rest, k), name[k] = '\0', net_name_ok(name)))
		return mgr_answer_fault(r, 404, "no such network: a name is 1 to 32 of [A-Za-z0-9-]");
	struct mgr_net *n = mgr_net_find(m, name);
	if (!n) {
		error_set(err, sizeof(err), -ENOENT, "no network named '%s'", name);
		return mgr_answer_fault(r, 404, err);
	}
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	int e;
	if (!sub) {
		if (get)
			return mgr_answer_json(r, 200, info(m, n));
		if (strcmp(method, "DELETE"))
			return not_allowed(r, "GET or DELETE");
		e = net_undefine(m, n, err, sizeof(err));
		return e < 0 ? fault(r, e, err) : mgr_answer_json(r, 200, json_pack("{s:s}", "undefined", name));
	}
	if (!strcmp(sub, "leases"))
		return get ? mgr_answer_json(r, 200, leases(m, n)) : not_allowed(r, "GET");
	if (!strcmp(sub, "autostart"))
		return !strcmp(method, "PUT") ? put_autostart(m, n, body, len, r) : not_allowed(r, "PUT");
	if (strcmp(sub, "start") && strcmp(sub, "destroy"))
		return mgr_answer_fault(r, 404, "unknown path");
	if (!post)
		return not_allowed(r, "POST");
	e = !strcmp(sub, "start") ? net_start(m, n, err, sizeof(err)) : net_destroy(m, n, err, sizeof(err));
	return e < 0 ? fault(r, e, err) : mgr_answer_json(r, 200, info(m, n));
}
