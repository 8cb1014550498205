/* A VM's interfaces and addresses as the API shows them (net_addrs.h). The networks are walked
 * here rather than looked up through the inventory: this is a helper, below it. */
#include "manager/net/net_addrs.h"
#include "manager/net/leases.h"
#include "manager/net/net_iface.h"
#include "manager/net/net_inventory.h"
#include "manager/mgr.h"
#include "config/devices_config.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEASES_FILE_MAX (LEASES_MAX * LEASES_LINE_MAX)

static const struct mgr_net *network(struct manager *m, const char *name)
{
	for (const struct mgr_net *n = m->nets; n; n = n->next)
		if (!strcmp(n->def.name, name))
			return n;
	return NULL;
}

/* The lease dnsmasq gave mac on n, or false. */
static bool leased(struct manager *m, const struct mgr_net *n, const uint8_t mac[6], struct in_addr *ip)
{
	char path[PATH_MAX], err[128];
	if (snprintf(path, sizeof(path), "%s/networks/%s/leases", m->state_dir, n->def.name) >= (int)sizeof(path))
		return false;
	char *text = NULL;
	size_t len = 0, count = 0;
	struct lease *l = NULL;
	bool found = false;
	if (read_whole_file(path, LEASES_FILE_MAX, &text, &len) == 0 &&
	    leases_parse(text, len, &l, &count, err, sizeof(err)) == 0)
		for (size_t i = 0; i < count; i++)
			if (!memcmp(l[i].mac, mac, 6)) {
				*ip = l[i].ip;   /* the last one the file has for it */
				found = true;
			}
	free(l);
	free(text);
	return found;
}

/* Its address on n: the reservation of mac, else its lease. */
static bool address_of(struct manager *m, const struct mgr_net *n, const uint8_t mac[6], char out[INET_ADDRSTRLEN])
{
	struct in_addr ip;
	bool have = false;
	for (size_t r = 0; r < n->def.nres && !have; r++)
		if (!memcmp(n->def.res[r].mac, mac, 6)) {
			ip = n->def.res[r].ip;
			have = true;
		}
	if (!have && n->def.kind != NET_BRIDGE)
		have = leased(m, n, mac, &ip);
	return have && inet_ntop(AF_INET, &ip, out, INET_ADDRSTRLEN);
}

/* The record of the tap vm's worker has for the interface, or NULL. */
static json_t *tap_of(const struct mgr_vm *vm, const char *iface_id)
{
	size_t i;
	json_t *t;
	json_array_foreach(vm->taps, i, t)
		if (iface_id && !strcmp(json_string_value(json_object_get(t, "iface_id")) ?: "", iface_id))
			return t;
	return NULL;
}

/* The first lease the tap brought from a migration's source that has not expired, or NULL. */
static json_t *carried_ip(json_t *tap)
{
	size_t i;
	json_t *l;
	json_array_foreach(json_object_get(tap, "leases"), i, l) {
		json_int_t x = json_integer_value(json_object_get(l, "expiry"));
		if (!x || x > (json_int_t)time(NULL))
			return json_object_get(l, "ip");
	}
	return NULL;
}

json_t *net_vm_interfaces(struct manager *m, const struct mgr_vm *vm)
{
	json_t *a = NULL, *ifc;
	size_t i;
	json_array_foreach(json_object_get(vm->def.doc, "network-interfaces"), i, ifc) {
		const char *id = json_string_value(json_object_get(ifc, "iface_id"));
		const char *net = net_iface_network(ifc);
		json_t *o = json_pack("{s:s?}", "iface_id", id), *tap = NULL;
		if (!a)
			a = json_array();
		json_array_append_new(a, o);
		if (!net) {
			json_object_set(o, "host_dev_name", json_object_get(ifc, "host_dev_name"));
		} else {
			json_object_set_new(o, "network", json_string(net));
			tap = vm->pid > 0 ? tap_of(vm, id) : NULL;
			if (tap)
				json_object_set(o, "tap", json_object_get(tap, "tap"));
		}
		uint8_t mac[6];
		char ip[INET_ADDRSTRLEN];
		if (!net_iface_mac(ifc, mac))
			continue;
		json_object_set(o, "mac", json_object_get(ifc, "guest_mac"));
		const struct mgr_net *n = net ? network(m, net) : NULL;
		if (n && address_of(m, n, mac, ip))
			json_object_set_new(o, "ip", json_string(ip));
		else if (carried_ip(tap))   /* its lease on a migration's source */
			json_object_set(o, "ip", carried_ip(tap));
	}
	return a;
}

json_t *net_vm_addresses(struct manager *m, const struct mgr_vm *vm)
{
	json_t *ifs = net_vm_interfaces(m, vm), *out = NULL, *o;
	size_t i;
	json_array_foreach(ifs, i, o) {
		json_t *ip = json_object_get(o, "ip");
		if (!ip)
			continue;
		if (!out)
			out = json_array();
		json_array_append(out, ip);
	}
	json_decref(ifs);
	return out;
}
