/* A VM's interfaces on host networks in its definition (net_reserve.h). */
#include "manager/net/net_reserve.h"
#include "manager/net/dnsmasq.h"
#include "manager/net/leases.h"
#include "manager/net/net_guard_addrs.h"
#include "manager/net/net_iface.h"
#include "manager/net/net_inventory.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "config/devices_config.h"
#include "util/error.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Whether mac is taken here by anything but VM self: another definition's interface, another
 * interface of def (skip: its index), another VM's reservation. The name of who has it in *who. */
static bool mac_taken(struct manager *m, const struct vm_def *def, size_t skip, const uint8_t mac[6], const char **who)
{
	uint8_t x[6];
	size_t i;
	json_t *ifc;
	json_array_foreach(json_object_get(def->doc, "network-interfaces"), i, ifc)
		if (i != skip && net_iface_mac(ifc, x) && !memcmp(x, mac, 6))
			return *who = def->name, true;
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next) {
		if (!strcmp(vm->def.name, def->name))
			continue;
		json_array_foreach(json_object_get(vm->def.doc, "network-interfaces"), i, ifc)
			if (net_iface_mac(ifc, x) && !memcmp(x, mac, 6))
				return *who = vm->def.name, true;
	}
	for (struct mgr_net *n = m->nets; n; n = n->next)
		for (size_t r = 0; r < n->def.nres; r++)
			if (!memcmp(n->def.res[r].mac, mac, 6) && n->def.res[r].vm[0] && strcmp(n->def.res[r].vm, def->name))
				return *who = n->def.res[r].vm, true;
	return false;
}

static int random_mac(struct manager *m, const struct vm_def *def, size_t i, uint8_t mac[6], char *err, size_t errlen)
{
	const char *who;
	int e = -EAGAIN;
	for (int tries = 0; tries < 64 && e; tries++) {
		mac[0] = 0x52, mac[1] = 0x54, mac[2] = 0x00;   /* the prefix QEMU and libvirt give */
		if (getrandom(mac + 3, 3, 0) != 3)
			break;
		e = mac_taken(m, def, i, mac, &who) ? -EAGAIN : 0;
	}
	return e ? error_set(err, errlen, -EIO, "network-interfaces[%zu]: cannot find a free MAC", i) : 0;
}

/* One network's reservations as they must be for def: (json) the new array, or NULL with err. */
struct plan {
	struct mgr_net *n;
	json_t *res;          /* the new reservations */
	bool changed;
};

static bool ip_used(json_t *res, struct in_addr ip)
{
	size_t k;
	json_t *r;
	char s[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip, s, sizeof(s));
	json_array_foreach(res, k, r)
		if (!strcmp(json_string_value(json_object_get(r, "ip")) ?: "", s))
			return true;
	return false;
}

/* The first address of n's subnet that is not the gateway, not in the DHCP range and not
 * reserved in res. */
static int free_address(const struct mgr_net *n, json_t *res, char out[INET_ADDRSTRLEN], char *err, size_t errlen)
{
	uint32_t mask = n->def.prefix ? ~0u << (32 - n->def.prefix) : 0;
	uint32_t gw = ntohl(n->def.gateway.s_addr), base = gw & mask, last = base | ~mask;
	uint32_t lo = ntohl(n->def.dhcp_start.s_addr), hi = ntohl(n->def.dhcp_end.s_addr);
	for (uint32_t a = base + 1; a < last; a++) {
		struct in_addr ip = { htonl(a) };
		if (a == gw || (a >= lo && a <= hi) || ip_used(res, ip))
			continue;
		inet_ntop(AF_INET, &ip, out, INET_ADDRSTRLEN);
		return 0;
	}
	return error_set(err, errlen, -EEXIST, "network %s has no free address outside its DHCP range for a "
			 "reservation", n->def.name);
}

static bool reservation_is(json_t *r, const uint8_t mac[6])
{
	uint8_t x[6];
	const char *s = json_string_value(json_object_get(r, "mac"));
	return s && mac_parse(s, x) == 0 && !memcmp(x, mac, 6);
}

/* Whether def has an interface with mac on network name. */
static bool has_iface(const struct vm_def *def, const char *name, const uint8_t mac[6])
{
	size_t i;
	json_t *ifc;
	uint8_t x[6];
	json_array_foreach(json_object_get(def->doc, "network-interfaces"), i, ifc) {
		const char *net = net_iface_network(ifc);
		if (net && !strcmp(net, name) && net_iface_mac(ifc, x) && !memcmp(x, mac, 6))
			return true;
	}
	return false;
}

/* n's reservations for def (its interfaces' MACs given already). */
static int plan_network(const struct vm_def *def, struct plan *p, char *err, size_t errlen)
{
	struct mgr_net *n = p->n;
	json_t *old = json_object_get(n->def.doc, "reservations"), *r;
	p->res = json_array();
	size_t k;
	/* the others' are kept, and def's VM's for a MAC it still has there */
	json_array_foreach(old, k, r) {
		uint8_t mac[6];
		const char *vm = json_string_value(json_object_get(r, "vm"));
		const char *s = json_string_value(json_object_get(r, "mac"));
		bool mine = vm && !strcmp(vm, def->name);
		if (mine && !(s && mac_parse(s, mac) == 0 && has_iface(def, n->def.name, mac)))
			p->changed = true;
		else
			json_array_append(p->res, r);
	}
	if (n->def.kind == NET_BRIDGE)
		return 0;
	size_t i;
	json_t *ifc;
	json_array_foreach(json_object_get(def->doc, "network-interfaces"), i, ifc) {
		const char *net = net_iface_network(ifc);
		uint8_t mac[6];
		if (!net || strcmp(net, n->def.name) || !net_iface_mac(ifc, mac))
			continue;
		bool have = false;
		json_array_foreach(p->res, k, r) {
			const char *vm = json_string_value(json_object_get(r, "vm"));
			if (!reservation_is(r, mac))
				continue;
			if (vm && strcmp(vm, def->name))
				return error_set(err, errlen, -EEXIST, "network-interfaces[%zu].guest_mac: %s is reserved for "
						 "VM %s on network %s", i, json_string_value(json_object_get(r, "mac")), vm,
						 n->def.name);
			have = true;   /* its own, or one a user made for the MAC */
		}
		if (have)
			continue;
		char ip[INET_ADDRSTRLEN], mac_s[18];
		int e = free_address(n, p->res, ip, err, errlen);
		if (e < 0)
			return e;
		mac_format(mac, mac_s);
		json_array_append_new(p->res, json_pack("{s:s, s:s, s:s}", "vm", def->name, "mac", mac_s, "ip", ip));
		p->changed = true;
	}
	return 0;
}

/* n's definition with reservations res, saved, and its dnsmasq told (n active). */
static int apply_plan(struct manager *m, struct plan *p, char *err, size_t errlen)
{
	struct mgr_net *n = p->n;
	json_t *doc = json_deep_copy(n->def.doc);
	if (json_array_size(p->res))
		json_object_set(doc, "reservations", p->res);
	else
		json_object_del(doc, "reservations");
	char *text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	struct net_def d;
	int e = text ? net_def_parse(text, strlen(text), &d, err, errlen) : error_set(err, errlen, -ENOMEM, "out of memory");
	free(text);
	if (e < 0)
		return e;
	if ((e = mgr_net_save(m, &d, err, errlen)) < 0) {
		net_def_free(&d);
		return e;
	}
	net_def_free(&n->def);
	n->def = d;
	if (!n->active || n->def.kind == NET_BRIDGE)
		return 0;
	/* reservations are applied as they change (dnsmasq re-reads its hosts file): the running
	 * definition is the new one */
	char dir[PATH_MAX];
	if ((e = mgr_net_state_dir(m, n->def.name, dir, sizeof(dir), err, errlen)) < 0 ||
	    (e = dnsmasq_write_hosts(dir, &n->def, n->dnsmasq_pid, err, errlen)) < 0)
		return e;
	net_def_digest(&n->def, n->digest);
	mgr_net_run_save(m, n);
	/* the guards of running VMs' taps follow the reservations too */
	n->leases_due_ms = now_ms();
	supervise_wake(m);
	return 0;
}

static void free_plans(struct plan *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(p[i].res);
	free(p);
}

/* The networks whose reservations must change for def (def's own, and those holding the VM's
 * reservations), planned; nothing written. */
static int plan_all(struct manager *m, const struct vm_def *def, struct plan **out, size_t *count, char *err,
		    size_t errlen)
{
	size_t nn = 0;
	for (struct mgr_net *n = m->nets; n; n = n->next)
		nn++;
	struct plan *p = calloc(nn ? nn : 1, sizeof(*p));
	if (!p)
		return error_set(err, errlen, -ENOMEM, "out of memory");
	size_t k = 0;
	int e = 0;
	for (struct mgr_net *n = m->nets; n && !e; n = n->next) {
		p[k].n = n;
		e = plan_network(def, &p[k++], err, errlen);
	}
	if (e < 0) {
		free_plans(p, k);
		return e;
	}
	*out = p;
	*count = k;
	return 0;
}

/* The MAC the VM's definition so far gives the interface iface_id on network net, if any: a
 * redefinition without guest_mac keeps it. */
static json_t *kept_mac(struct manager *m, const struct vm_def *def, json_t *ifc)
{
	struct mgr_vm *vm = mgr_vm_find(m, def->name);
	const char *id = json_string_value(json_object_get(ifc, "iface_id")), *net = net_iface_network(ifc);
	size_t i;
	json_t *old;
	json_array_foreach(vm ? json_object_get(vm->def.doc, "network-interfaces") : NULL, i, old) {
		const char *oid = json_string_value(json_object_get(old, "iface_id")), *onet = net_iface_network(old);
		if (id && oid && onet && !strcmp(id, oid) && !strcmp(net, onet))
			return json_object_get(old, "guest_mac");
	}
	return NULL;
}

int net_vm_define(struct manager *m, struct vm_def *def, char *err, size_t errlen)
{
	size_t i;
	json_t *ifc;
	int e;
	json_array_foreach(json_object_get(def->doc, "network-interfaces"), i, ifc) {
		const char *net = net_iface_network(ifc), *who;
		uint8_t mac[6];
		if (!net)
			continue;
		if (!mgr_net_find(m, net))
			return error_set(err, errlen, -EINVAL, "network-interfaces[%zu].network: no network named '%s' "
					 "(petrelctl net-list)", i, net);
		if (net_iface_mac(ifc, mac)) {
			if (mac_taken(m, def, i, mac, &who))
				return error_set(err, errlen, -EEXIST, "network-interfaces[%zu].guest_mac: %s is VM %s's",
						 i, json_string_value(json_object_get(ifc, "guest_mac")), who);
			continue;
		}
		char s[18];
		json_t *kept = kept_mac(m, def, ifc);
		if (kept && json_string_value(kept) && mac_parse(json_string_value(kept), mac) == 0 &&
		    !mac_taken(m, def, i, mac, &who)) {
			json_object_set(ifc, "guest_mac", kept);
			continue;
		}
		if ((e = random_mac(m, def, i, mac, err, errlen)) < 0)
			return e;
		mac_format(mac, s);
		json_object_set_new(ifc, "guest_mac", json_string(s));
	}
	struct plan *p;
	size_t np;
	if ((e = plan_all(m, def, &p, &np, err, errlen)) < 0)
		return e;
	for (size_t k = 0; k < np && !e; k++)
		if (p[k].changed)
			e = apply_plan(m, &p[k], err, errlen);
	free_plans(p, np);
	return e;
}

void net_vm_undefine(struct manager *m, const char *vm)
{
	struct vm_def none = { .doc = json_object() };
	snprintf(none.name, sizeof(none.name), "%s", vm);
	char err[512];
	struct plan *p;
	size_t np;
	if (plan_all(m, &none, &p, &np, err, sizeof(err)) == 0) {
		for (size_t k = 0; k < np; k++)
			if (p[k].changed && apply_plan(m, &p[k], err, sizeof(err)) < 0)
				fprintf(stderr, "petreld: network %s: cannot drop VM %s's reservation: %s\n",
					p[k].n->def.name, vm, err);
		free_plans(p, np);
	}
	json_decref(none.doc);
}

/* The network an interface of a definition is on, when this host has it. */
static struct mgr_net *net_of(struct manager *m, json_t *ifc)
{
	const char *net = net_iface_network(ifc);
	return net ? mgr_net_find(m, net) : NULL;
}

json_t *net_vm_digests(struct manager *m, const struct vm_def *def)
{
	json_t *o = NULL, *ifc;
	size_t i;
	json_array_foreach(json_object_get(def->doc, "network-interfaces"), i, ifc) {
		struct mgr_net *n = net_of(m, ifc);
		char hex[65];
		if (!n)
			continue;
		net_def_digest(&n->def, hex);
		if (!o)
			o = json_object();
		json_object_set_new(o, n->def.name, json_string(hex));
	}
	return o;
}

/* The leases the MAC of ifc holds on its network here, appended to *out. */
static void leases_of(struct manager *m, json_t *ifc, json_t **out)
{
	struct mgr_net *n = net_of(m, ifc);
	uint8_t mac[6];
	struct lease *l = NULL;
	size_t nl = 0;
	int64_t next;
	char err[256], ip[INET_ADDRSTRLEN], mtext[18];
	if (!n || !net_iface_mac(ifc, mac) || net_leases_current(m, n, &l, &nl, &next, err, sizeof(err)) < 0)
		return;
	mac_format(mac, mtext);
	for (size_t k = 0; k < nl; k++)
		if (!memcmp(l[k].mac, mac, 6) && inet_ntop(AF_INET, &l[k].ip, ip, sizeof(ip))) {
			if (!*out)
				*out = json_array();
			json_array_append_new(*out, json_pack("{s:s, s:s, s:I}", "mac", mtext, "ip", ip, "expiry",
							      (json_int_t)l[k].expiry));
		}
	free(l);
}

json_t *net_vm_leases(struct manager *m, const struct vm_def *def)
{
	json_t *out = NULL, *ifc;
	size_t i;
	json_array_foreach(json_object_get(def->doc, "network-interfaces"), i, ifc)
		leases_of(m, ifc, &out);
	return out;
}

int net_vm_check_arrival(struct manager *m, const struct vm_def *def, json_t *digests, char *err, size_t errlen)
{
	json_t *ifc;
	size_t i;
	json_array_foreach(json_object_get(def->doc, "network-interfaces"), i, ifc) {
		const char *net = net_iface_network(ifc);
		if (!net)
			continue;
		struct mgr_net *n = mgr_net_find(m, net);
		const char *theirs = json_string_value(json_object_get(digests, net));
		char mine[65];
		if (!n)
			return error_set(err, errlen, -EEXIST, "no network %s here (VM %s's interface %zu is on it)", net,
					 def->name, i);
		net_def_digest(&n->def, mine);
		if (theirs && strcmp(theirs, mine))
			return error_set(err, errlen, -EEXIST, "network %s differs on this host (its digest here %.12s..., on the "
					 "source %.12s...): define it the same on both", net, mine, theirs);
		if (!n->active)
			return error_set(err, errlen, -EBUSY, "network %s is not active here (petrelctl net-start %s)", net, net);
	}
	return 0;
}
