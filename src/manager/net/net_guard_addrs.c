/* The addresses a VM's guards let it send from, kept current with its network's leases
 * (net_guard_addrs.h). petreld learns of a lease by watching dnsmasq's lease file (net_service.c)
 * and reads the whole file each time: what the guards get is a function of the file as it is, so
 * a missed or repeated event, a dnsmasq restarted, or a petreld started again all end in the same
 * sets. */
#include "manager/net/net_guard_addrs.h"
#include "manager/net/guards.h"
#include "manager/net/leases.h"
#include "manager/net/net_iface.h"
#include "manager/net/net_inventory.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "config/devices_config.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool net_guards_off(const struct mgr_net *n, json_t *ifc)
{
	json_t *off = json_object_get(ifc, "guards");
	return off ? json_is_false(off) : !n->def.guards;
}

static int cmp4(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct in_addr));
}

static int cmp6(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct in6_addr));
}

/* Sort a[*n] (elements of size) and keep each once. */
static void sort_unique(void *a, size_t *n, size_t size, int (*cmp)(const void *, const void *))
{
	if (*n < 2)
		return;
	qsort(a, *n, size, cmp);
	char *p = a;
	size_t k = 1;
	for (size_t i = 1; i < *n; i++)
		if (cmp(p + (k - 1) * size, p + i * size))
			memmove(p + k++ * size, p + i * size, size);
	*n = k;
}

json_t *net_leases_carried(json_t *arriving, const uint8_t mac[6])
{
	json_t *out = NULL, *l;
	size_t i;
	json_array_foreach(arriving, i, l) {
		uint8_t m[6];
		const char *s = json_string_value(json_object_get(l, "mac"));
		if (!s || mac_parse(s, m) < 0 || memcmp(m, mac, 6))
			continue;
		if (!out)
			out = json_array();
		json_array_append_new(out, json_pack("{s:O, s:O}", "ip", json_object_get(l, "ip"), "expiry",
						     json_object_get(l, "expiry")));
	}
	return out;
}

/* Whether a carried lease has expired (expiry 0: it does not). */
static bool carried_expired(json_t *l, int64_t now)
{
	json_int_t x = json_integer_value(json_object_get(l, "expiry"));
	return x && x <= now;
}

void net_guard_addrs(const struct mgr_net *n, json_t *ifc, const uint8_t mac[6], const struct lease *l, size_t nl,
		     json_t *carried, struct in_addr *v4, size_t *nv4, struct in6_addr *v6, size_t *nv6)
{
	*nv4 = *nv6 = 0;
	net_iface_addrs(ifc, v4, nv4, v6, nv6, GUARDS_MAX_ADDRESSES);
	if (n->def.kind != NET_BRIDGE) {
		for (size_t r = 0; r < n->def.nres && *nv4 < GUARDS_MAX_ADDRESSES; r++)
			if (!memcmp(n->def.res[r].mac, mac, 6))
				v4[(*nv4)++] = n->def.res[r].ip;
		for (size_t i = 0; i < nl && *nv4 < GUARDS_MAX_ADDRESSES; i++)
			if (!memcmp(l[i].mac, mac, 6))
				v4[(*nv4)++] = l[i].ip;
		size_t i;
		json_t *c;
		int64_t now = (int64_t)time(NULL);
		json_array_foreach(carried, i, c)
			if (*nv4 < GUARDS_MAX_ADDRESSES && !carried_expired(c, now) &&
			    inet_pton(AF_INET, json_string_value(json_object_get(c, "ip")) ?: "", &v4[*nv4]) == 1)
				(*nv4)++;
	}
	sort_unique(v4, nv4, sizeof(*v4), cmp4);
	sort_unique(v6, nv6, sizeof(*v6), cmp6);
}

int net_leases_current(struct manager *m, const struct mgr_net *n, struct lease **l, size_t *nl,
		       int64_t *next_expiry, char *err, size_t errlen)
{
	char path[PATH_MAX];
	*l = NULL;
	*nl = 0;
	*next_expiry = 0;
	if (n->def.kind == NET_BRIDGE)
		return 0;
	if (snprintf(path, sizeof(path), "%s/networks/%s/leases", m->state_dir, n->def.name) >= (int)sizeof(path))
		return error_set(err, errlen, -ENAMETOOLONG, "the state directory's path is too long");
	int e = leases_read_file(path, l, nl, err, errlen);
	if (e < 0)
		return e;
	int64_t now = (int64_t)time(NULL);
	size_t k = 0;
	for (size_t i = 0; i < *nl; i++) {
		if ((*l)[i].expiry && (*l)[i].expiry <= now)
			continue;   /* dnsmasq drops it from the file later, at its next write */
		if ((*l)[i].expiry && (!*next_expiry || (*l)[i].expiry < *next_expiry))
			*next_expiry = (*l)[i].expiry;
		(*l)[k++] = (*l)[i];
	}
	*nl = k;
	return 0;
}

/* FNV-1a of what a tap's guards are given. */
static uint64_t addrs_hash(const struct in_addr *v4, size_t nv4, const struct in6_addr *v6, size_t nv6)
{
	uint64_t h = 14695981039346656037ull;
	const uint8_t *p = (const uint8_t *)v4;
	for (size_t i = 0; i < nv4 * sizeof(*v4); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	h = (h ^ 0xff) * 1099511628211ull;   /* so that moving bytes from one family to the other shows */
	p = (const uint8_t *)v6;
	for (size_t i = 0; i < nv6 * sizeof(*v6); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

void net_guards_given(struct mgr_net *n, const char *tap, const struct in_addr *v4, size_t nv4,
		      const struct in6_addr *v6, size_t nv6)
{
	if (!n->guards_seen)
		n->guards_seen = json_object();
	json_object_set_new(n->guards_seen, tap, json_integer((json_int_t)addrs_hash(v4, nv4, v6, nv6)));
}

/* The addresses as an event shows them: ["10.77.0.5", ...]. */
static json_t *addrs_json(int af, const void *a, size_t n)
{
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		char s[INET6_ADDRSTRLEN];
		const void *p = af == AF_INET ? (const void *)&((const struct in_addr *)a)[i]
					      : (const void *)&((const struct in6_addr *)a)[i];
		if (inet_ntop(af, p, s, sizeof(s)))
			json_array_append_new(out, json_string(s));
	}
	return out;
}

/* The element of vm's definition with that iface_id. */
static json_t *iface_of(const struct mgr_vm *vm, const char *id)
{
	size_t i;
	json_t *ifc;
	json_array_foreach(json_object_get(vm->def.doc, "network-interfaces"), i, ifc)
		if (id && !strcmp(json_string_value(json_object_get(ifc, "iface_id")) ?: "", id))
			return ifc;
	return NULL;
}

/* One tap (rec: its record in vm->taps): its addresses given when they changed; recorded in seen
 * (tap -> hash). *next: lowered to the expiry of a lease it brought from a migration. False when
 * its guards could not be given them. */
static bool follow_tap(struct manager *m, struct mgr_net *n, const char *vm, json_t *rec, json_t *ifc,
		       const struct lease *l, size_t nl, json_t *seen, int64_t *next)
{
	const char *tap = json_string_value(json_object_get(rec, "tap"));
	json_t *carried = json_object_get(rec, "leases"), *c;
	size_t k;
	int64_t now = (int64_t)time(NULL);
	json_array_foreach(carried, k, c) {
		json_int_t x = json_integer_value(json_object_get(c, "expiry"));
		if (x > now && (!*next || x < *next))
			*next = x;
	}
	static struct in_addr v4[GUARDS_MAX_ADDRESSES];
	static struct in6_addr v6[GUARDS_MAX_ADDRESSES];
	uint8_t mac[6];
	size_t nv4, nv6;
	char err[256];
	if (!ifc || net_guards_off(n, ifc) || !net_iface_mac(ifc, mac))
		return true;
	net_guard_addrs(n, ifc, mac, l, nl, carried, v4, &nv4, v6, &nv6);
	uint64_t h = addrs_hash(v4, nv4, v6, nv6);
	json_t *was = json_object_get(n->guards_seen, tap);
	if (!was || (uint64_t)json_integer_value(was) != h) {
		if (guards_set_addresses(tap, v4, nv4, v6, nv6, err, sizeof(err)) < 0) {
			fprintf(stderr, "petreld: VM %s: the guards of its tap %s keep their addresses: %s\n", vm, tap, err);
			return false;   /* not recorded: tried again */
		}
		fprintf(stderr, "petreld: VM %s: tap %s may send from %zu IPv4 and %zu IPv6 addresses (network %s's leases)\n",
			vm, tap, nv4, nv6, n->def.name);
		mgr_event_emit(m, vm, "addresses changed",
			       json_pack("{s:O?, s:s, s:s, s:o, s:o}", "iface_id", json_object_get(ifc, "iface_id"),
					 "network", n->def.name, "tap", tap, "ipv4", addrs_json(AF_INET, v4, nv4), "ipv6",
					 addrs_json(AF_INET6, v6, nv6)));
	}
	json_object_set_new(seen, tap, json_integer((json_int_t)h));
	return true;
}

int64_t net_guards_follow(struct manager *m, struct mgr_net *n)
{
	struct lease *l = NULL;
	size_t nl = 0;
	int64_t next = 0;
	char err[256];
	if (net_leases_current(m, n, &l, &nl, &next, err, sizeof(err)) < 0) {
		fprintf(stderr, "petreld: network %s: cannot read its leases: %s\n", n->def.name, err);
		return 1000;
	}
	json_t *seen = json_object();
	bool failed = false;
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next) {
		size_t i;
		json_t *t;
		json_array_foreach(vm->taps, i, t) {
			const char *tap = json_string_value(json_object_get(t, "tap"));
			const char *net = json_string_value(json_object_get(t, "network"));
			if (tap && *tap && net && !strcmp(net, n->def.name))
				failed |= !follow_tap(m, n, vm->def.name, t,
						      iface_of(vm, json_string_value(json_object_get(t, "iface_id"))), l,
						      nl, seen, &next);
		}
	}
	json_decref(n->guards_seen);
	n->guards_seen = seen;
	free(l);
	if (failed)
		return 1000;
	if (!next)
		return -1;
	int64_t left = next - (int64_t)time(NULL);
	return left <= 0 ? 0 : left * 1000 + 500;
}
