/* The taps of a VM's interfaces on host networks (net_taps.h). */
#include "manager/net/net_taps.h"
#include "manager/net/guards.h"
#include "manager/net/leases.h"
#include "manager/net/net_guard_addrs.h"
#include "manager/net/net_iface.h"
#include "manager/net/net_inventory.h"
#include "manager/net/net_link.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Whether a VM other than self has a tap of that name. */
static bool tap_taken(struct manager *m, const struct mgr_vm *self, const char *tap)
{
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next) {
		size_t i;
		json_t *t;
		json_array_foreach(vm->taps, i, t)
			if (vm != self && !strcmp(json_string_value(json_object_get(t, "tap")) ?: "", tap))
				return true;
	}
	return false;
}

/* FNV-1a of the VM's name, salted. */
static uint32_t name_hash(const char *s, unsigned salt)
{
	uint32_t h = 2166136261u ^ salt;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* The tap of vm's interface i: pt-<vm>-<i> when it fits in 15, else pt<hash>-<i>; another
 * VM's tap of that name changes the hash. */
static void tap_name(struct manager *m, const struct mgr_vm *vm, size_t i, char out[16])
{
	char full[VM_NAME_MAX + 32];
	snprintf(full, sizeof(full), "pt-%s-%zu", vm->def.name, i);
	if (strlen(full) <= 15 && !tap_taken(m, vm, full)) {
		snprintf(out, 16, "%s", full);
		return;
	}
	for (unsigned salt = 0;; salt++) {
		snprintf(out, 16, "pt%08x-%zu", name_hash(vm->def.name, salt), i % 1000);
		if (!tap_taken(m, vm, out))
			return;
	}
}

static void tap_remove(const char *tap)
{
	char err[256];
	if (guards_remove(tap, err, sizeof(err)) < 0)
		fprintf(stderr, "petreld: tap %s: cannot remove its guards: %s\n", tap, err);
	if (net_link_delete(tap, err, sizeof(err)) < 0)
		fprintf(stderr, "petreld: cannot delete the tap %s: %s\n", tap, err);
}

/* One interface's tap made, guarded and on its bridge (m->lock held). */
static int tap_up(struct manager *m, struct mgr_vm *vm, size_t i, json_t *ifc, json_t *carried, char tap[16],
		  char *err, size_t errlen)
{
	const char *name = net_iface_network(ifc);
	struct mgr_net *n = mgr_net_find(m, name);
	uint8_t mac[6];
	if (!n)
		return error_set(err, errlen, -EINVAL, "network-interfaces[%zu].network: no network named '%s' here", i, name);
	if (!n->active)
		return error_set(err, errlen, -EBUSY, "network %s is not active (petrelctl net-start %s)", name, name);
	if (!net_iface_mac(ifc, mac))
		return error_set(err, errlen, -EINVAL, "network-interfaces[%zu]: no guest_mac (petreld gives one when the "
				 "VM is defined: define it again)", i);
	tap_name(m, vm, i, tap);
	if (net_link_exists(tap)) {
		/* no VM of petreld's has it: the tap of a worker whose end petreld did not see */
		fprintf(stderr, "petreld: VM %s: the tap %s was left over: made again\n", vm->def.name, tap);
		tap_remove(tap);
	}
	uid_t uid = m->jailer ? vm->def.uid : geteuid();
	gid_t gid = m->jailer ? vm->def.gid : getegid();
	int e = net_tap_create(tap, uid, gid, err, errlen);
	if (e < 0)
		return e;
	static struct in_addr v4[GUARDS_MAX_ADDRESSES];
	static struct in6_addr v6[GUARDS_MAX_ADDRESSES];
	struct guard_spec g = { .v4 = v4, .v6 = v6 };
	snprintf(g.tap, sizeof(g.tap), "%s", tap);
	memcpy(g.mac, mac, 6);
	g.off = net_guards_off(n, ifc);
	/* its reservation, and the lease its MAC holds (a restart keeps it; the supervisor follows
	 * the leases from here on: net_guards_follow) */
	_cleanup_free_ struct lease *l = NULL;
	size_t nl = 0;
	int64_t next;
	char why[256];
	if (net_leases_current(m, n, &l, &nl, &next, why, sizeof(why)) < 0)
		fprintf(stderr, "petreld: VM %s: its tap %s is guarded without the leases of %s: %s\n", vm->def.name, tap,
			name, why);
	net_guard_addrs(n, ifc, mac, l, nl, carried, v4, &g.nv4, v6, &g.nv6);
	/* guarded before it is on the bridge: nothing of the VM's passes unguarded */
	if ((e = guards_apply(&g, err, errlen)) < 0 || (e = net_bridge_attach(n->def.bridge, tap, err, errlen)) < 0 ||
	    (e = net_link_up(tap, err, errlen)) < 0) {
		tap_remove(tap);
		return e;
	}
	if (!g.off)
		net_guards_given(n, tap, v4, g.nv4, v6, g.nv6);
	return 0;
}

int net_taps_up(struct manager *m, struct mgr_vm *vm, json_t *fc, char *err, size_t errlen)
{
	size_t i;
	json_t *ifc;
	int e = 0;
	pthread_mutex_lock(&m->lock);
	json_t *made = json_array();
	json_decref(vm->taps);
	vm->taps = made;   /* seen by tap_taken as this VM's */
	json_array_foreach(json_object_get(fc, "network-interfaces"), i, ifc) {
		if (!net_iface_network(ifc))
			continue;
		char tap[16];
		const char *net = net_iface_network(ifc);
		uint8_t mac[6];
		json_t *carried = net_iface_mac(ifc, mac) ? net_leases_carried(vm->arriving_leases, mac) : NULL;
		json_t *rec = json_pack("{s:s, s:s, s:O?, s:o*}", "network", net, "tap", "", "iface_id",
					json_object_get(ifc, "iface_id"), "leases", carried);
		uint64_t t0 = now_ns();
		if ((e = tap_up(m, vm, i, ifc, carried, tap, err, errlen)) < 0) {
			json_decref(rec);
			break;
		}
		json_object_set_new(rec, "tap", json_string(tap));
		json_array_append_new(made, rec);
		struct mgr_net *n = mgr_net_find(m, net);
		/* the host time a start on a network costs (docs/networks.md#what-a-start-costs) */
		mgr_vm_log(m, vm->def.name, "tap %s on network %s (bridge %s): made, guarded and attached in %llu us", tap,
			   net, n->def.bridge, (unsigned long long)((now_ns() - t0) / 1000));
		/* the network's rate limiter: the default of each direction the interface leaves out */
		json_t *rl = json_object_get(n->def.doc, "rate_limiter");
		if (json_is_object(rl)) {
			if (!json_object_get(ifc, "rx_rate_limiter"))
				json_object_set_new(ifc, "rx_rate_limiter", json_deep_copy(rl));
			if (!json_object_get(ifc, "tx_rate_limiter"))
				json_object_set_new(ifc, "tx_rate_limiter", json_deep_copy(rl));
		}
		net_iface_to_worker(ifc, tap);
	}
	json_decref(vm->arriving_leases);   /* in the taps' records now */
	vm->arriving_leases = NULL;
	if (e < 0)
		net_taps_down(m, vm);
	else if (!json_array_size(made)) {
		json_decref(vm->taps);
		vm->taps = NULL;
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

void net_taps_down(struct manager *m, struct mgr_vm *vm)
{
	size_t i;
	json_t *t;
	json_array_foreach(vm->taps, i, t) {
		const char *tap = json_string_value(json_object_get(t, "tap"));
		if (tap && *tap) {
			tap_remove(tap);
			mgr_vm_log(m, vm->def.name, "tap %s removed", tap);
		}
	}
	json_decref(vm->taps);
	vm->taps = NULL;
}
