/* The bodies of a migration between hosts (peer.h), checked strictly: they come from the
 * network. Apart from the rest of peer.c so that their fuzz target (tests/fuzz/fuzz_peer.c)
 * links them with the definition parser alone. */
#include "manager/peer/peer.h"
#include "config/devices_config.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int peer_parse_target(const char *to, char host[256], unsigned *port, char *err, size_t errlen)
{
	size_t n = strlen(to);
	const char *h = to, *p = NULL;
	size_t hl = n;
	if (to[0] == '[') {                         /* [IPv6] or [IPv6]:PORT */
		const char *close = strchr(to, ']');
		if (!close || (close[1] && close[1] != ':'))
			return error_set(err, errlen, -EINVAL, "to: '%.100s': expected HOST, HOST:PORT or [IPv6]:PORT", to);
		h = to + 1;
		hl = (size_t)(close - h);
		p = close[1] ? close + 2 : NULL;
	} else {
		const char *c = strchr(to, ':');
		if (c && !strchr(c + 1, ':')) {     /* one colon: HOST:PORT; more: a bare IPv6 address */
			hl = (size_t)(c - to);
			p = c + 1;
		}
	}
	if (!hl || hl >= 256)
		return error_set(err, errlen, -EINVAL, "to: '%.100s': the host must be 1 to 255 bytes", to);
	for (size_t i = 0; i < hl; i++) {
		char c = h[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
		      c == ':' || c == '_'))
			return error_set(err, errlen, -EINVAL, "to: '%.100s': a host is a name or an address", to);
	}
	*port = PEER_DEFAULT_PORT;
	if (p) {
		char *end;
		long v = *p >= '0' && *p <= '9' ? strtol(p, &end, 10) : -1;
		if (v < 1 || v > 65535 || *end)
			return error_set(err, errlen, -EINVAL, "to: '%.100s': the port must be 1-65535", to);
		*port = (unsigned)v;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	return 0;
}

static int uint_member(json_t *o, const char *key, unsigned lo, unsigned hi, unsigned *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return error_set(err, errlen, -EINVAL, "%s: expected an integer %u-%u", key, lo, hi);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* Only the keys given, and an object. */
static json_t *object_of(const char *body, size_t len, const char *const *keys, char *err, size_t errlen)
{
	json_error_t je;
	json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(o)) {
		error_set(err, errlen, -EINVAL, "expected a JSON object%s%s", o ? "" : ": ", o ? "" : je.text);
		json_decref(o);
		return NULL;
	}
	if (def_only_keys(o, "body", keys, err, errlen) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

int peer_migrate_parse(const char *body, size_t len, struct peer_migrate_req *r, char *err, size_t errlen)
{
	static const char *const keys[] = { "to", "downtime_ms", "timeout_s", NULL };
	memset(r, 0, sizeof(*r));
	r->downtime_ms = 300;
	r->timeout_s = 600;
	json_t *o = object_of(body, len, keys, err, errlen);
	if (!o)
		return -EINVAL;
	const char *to = json_string_value(json_object_get(o, "to"));
	int e = !to || strlen(to) != json_string_length(json_object_get(o, "to"))
		? error_set(err, errlen, -EINVAL, "to: expected \"HOST[:PORT]\", the target host's petreld")
		: peer_parse_target(to, r->host, &r->port, err, errlen);
	if (!e)
		e = uint_member(o, "downtime_ms", 1, 600000, &r->downtime_ms, err, errlen);
	if (!e)
		e = uint_member(o, "timeout_s", 1, 86400, &r->timeout_s, err, errlen);
	json_decref(o);
	return e;
}

/* {"NAME": "64 hex digits", ...}: the digests of the networks a migrating VM is on. */
static int digests_ok(json_t *nets, char *err, size_t errlen)
{
	const char *k;
	json_t *v;
	if (!json_is_object(nets) || json_object_size(nets) > 64)
		return error_set(err, errlen, -EINVAL, "networks: expected an object of at most 64 network: digest");
	json_object_foreach(nets, k, v) {
		const char *s = json_string_value(v);
		bool ok = mgr_vm_name_ok(k) && s && strlen(s) == 64;
		for (size_t i = 0; ok && i < 64; i++)
			ok = strchr("0123456789abcdef", s[i]) != NULL;
		if (!ok)
			return error_set(err, errlen, -EINVAL, "networks: expected network names with their digests (64 hex "
					 "digits)");
	}
	return 0;
}

/* The leases the VM's MACs held on the source: [{"mac", "ip", "expiry"}], at most 256, each a
 * unicast MAC, an IPv4 address and an expiry >= 0 (seconds since the epoch, 0: none). */
static int leases_ok(json_t *a, char *err, size_t errlen)
{
	size_t i;
	json_t *l;
	if (!json_is_array(a) || json_array_size(a) > 256)
		return error_set(err, errlen, -EINVAL, "leases: expected an array of at most 256 leases");
	json_array_foreach(a, i, l) {
		uint8_t mac[6];
		struct in_addr ip;
		const char *m = json_string_value(json_object_get(l, "mac")), *s = json_string_value(json_object_get(l, "ip"));
		json_t *x = json_object_get(l, "expiry");
		if (!json_is_object(l) || json_object_size(l) != 3 || !m || mac_parse(m, mac) < 0 || (mac[0] & 1) || !s ||
		    inet_pton(AF_INET, s, &ip) != 1 || !json_is_integer(x) || json_integer_value(x) < 0)
			return error_set(err, errlen, -EINVAL, "leases[%zu]: expected {\"mac\", \"ip\", \"expiry\"}", i);
	}
	return 0;
}

int peer_incoming_parse(const char *body, size_t len, struct vm_def *def, unsigned *timeout_s, json_t **networks,
			json_t **leases, char *err, size_t errlen)
{
	static const char *const keys[] = { "definition", "timeout_s", "networks", "leases", NULL };
	*timeout_s = 60;
	*networks = NULL;
	*leases = NULL;
	json_t *o = object_of(body, len, keys, err, errlen);
	if (!o)
		return -EINVAL;
	json_t *d = json_object_get(o, "definition"), *nets = json_object_get(o, "networks");
	int e = uint_member(o, "timeout_s", 1, 3600, timeout_s, err, errlen);
	if (!e && nets && (e = digests_ok(nets, err, errlen)) == 0)
		*networks = json_incref(nets);
	json_t *ls = json_object_get(o, "leases");
	if (!e && ls && (e = leases_ok(ls, err, errlen)) == 0)
		*leases = json_incref(ls);
	char *text = !e && json_is_object(d) ? json_dumps(d, JSON_COMPACT) : NULL;
	if (!e && !text)
		e = error_set(err, errlen, -EINVAL, "definition: expected the VM's definition (an object)");
	if (!e) {
		char why[400];
		e = def_parse(text, strlen(text), def, why, sizeof(why));
		if (e < 0)
			error_set(err, errlen, -EINVAL, "definition: %s", why);
	}
	free(text);
	json_decref(o);
	if (e < 0) {
		json_decref(*networks);
		json_decref(*leases);
		*networks = *leases = NULL;
	}
	return e;
}

/* A finite number >= 0, or -1. */
static double figure(json_t *props, const char *key)
{
	json_t *v = json_object_get(props, key);
	double d = json_is_number(v) ? json_number_value(v) : -1;
	return isfinite(d) && d >= 0 ? d : -1;
}

json_t *peer_event_figures(const char *line)
{
	json_t *ev = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	json_t *props = json_object_get(ev, "properties");
	const char *source = json_string_value(json_object_get(ev, "source"));
	const char *what = json_string_value(json_object_get(ev, "event"));
	const char *role = json_string_value(json_object_get(props, "role"));
	json_t *o = NULL;
	if (source && what && role && !strcmp(source, "migration") && !strcmp(what, "migration-completed") &&
	    !strcmp(role, "source")) {
		double down = figure(props, "downtime_ms"), total = figure(props, "total_ms");
		if (down >= 0)
			o = total >= 0 ? json_pack("{s:f, s:f}", "downtime_ms", down, "total_ms", total)
				       : json_pack("{s:f}", "downtime_ms", down);
	}
	json_decref(ev);
	return o;
}
