/* A VM interface on a host network (net_iface.h). A network's name has a VM name's characters
 * (mgr_vm_name_ok), at most NET_NAME_MAX of them. */
#include "manager/net/net_iface.h"
#include "manager/net/net_def.h"
#include "manager/definition.h"
#include "config/devices_config.h"
#include "util/error.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define IFACE_MAX_ADDRESSES 256   /* GUARDS_MAX_ADDRESSES */

static const char *const network_keys[] = { "network", "guards", "ipv4", "ipv6" };
#define NKEYS (sizeof(network_keys) / sizeof(network_keys[0]))

const char *net_iface_network(json_t *ifc)
{
	return json_string_value(json_object_get(ifc, "network"));
}

static int check_addrs(json_t *ifc, size_t i, const char *key, int af, char *err, size_t errlen)
{
	json_t *a = json_object_get(ifc, key), *v;
	if (!a)
		return 0;
	if (!json_is_array(a) || json_array_size(a) > IFACE_MAX_ADDRESSES)
		return error_set(err, errlen, -EINVAL, "network-interfaces[%zu].%s: expected an array of at most %d %s "
				 "addresses", i, key, IFACE_MAX_ADDRESSES, af == AF_INET ? "IPv4" : "IPv6");
	size_t k;
	json_array_foreach(a, k, v) {
		unsigned char buf[16];
		const char *s = json_string_value(v);
		if (!s || inet_pton(af, s, buf) != 1)
			return error_set(err, errlen, -EINVAL, "network-interfaces[%zu].%s[%zu]: not an %s address", i, key,
					 k, af == AF_INET ? "IPv4" : "IPv6");
	}
	return 0;
}

int net_iface_check(json_t *ifc, size_t i, char *err, size_t errlen)
{
	if (!json_is_object(ifc))
		return 0;   /* Firecracker's parser says what is wrong */
	json_t *net = json_object_get(ifc, "network");
	bool tap = json_object_get(ifc, "host_dev_name") != NULL;
	if (!net) {
		for (size_t k = 1; k < NKEYS; k++)
			if (json_object_get(ifc, network_keys[k]))
				return error_set(err, errlen, -EINVAL, "network-interfaces[%zu].%s: only with \"network\"",
						 i, network_keys[k]);
		return 0;
	}
	if (tap)
		return error_set(err, errlen, -EINVAL, "network-interfaces[%zu]: \"network\" or \"host_dev_name\", not both "
				 "(on a network petreld makes the tap)", i);
	if (!json_is_string(net) || !mgr_vm_name_ok(json_string_value(net)) ||
	    strlen(json_string_value(net)) > NET_NAME_MAX)
		return error_set(err, errlen, -EINVAL, "network-interfaces[%zu].network: expected a network's name (1 to %d "
				 "of [A-Za-z0-9-], not starting with '-')", i, NET_NAME_MAX);
	json_t *g = json_object_get(ifc, "guards");
	if (g && !json_is_boolean(g))
		return error_set(err, errlen, -EINVAL, "network-interfaces[%zu].guards: expected true or false", i);
	int e = check_addrs(ifc, i, "ipv4", AF_INET, err, errlen);
	return e < 0 ? e : check_addrs(ifc, i, "ipv6", AF_INET6, err, errlen);
}

json_t *net_iface_checkable(json_t *ifaces)
{
	json_t *copy = json_deep_copy(ifaces), *el;
	size_t i;
	json_array_foreach(copy, i, el) {
		if (!json_is_object(el) || !json_object_get(el, "network"))
			continue;
		char stand_in[16];
		snprintf(stand_in, sizeof(stand_in), "@network-%u", (unsigned)(i % 1000));   /* no tap has an @ */
		net_iface_to_worker(el, stand_in);
	}
	return copy;
}

void net_iface_to_worker(json_t *ifc, const char *tap)
{
	for (size_t k = 0; k < NKEYS; k++)
		json_object_del(ifc, network_keys[k]);
	json_object_set_new(ifc, "host_dev_name", json_string(tap));
}

bool net_iface_mac(json_t *ifc, uint8_t mac[6])
{
	const char *s = json_string_value(json_object_get(ifc, "guest_mac"));
	return s && mac_parse(s, mac) == 0;
}

void net_iface_addrs(json_t *ifc, struct in_addr *v4, size_t *nv4, struct in6_addr *v6, size_t *nv6, size_t max)
{
	json_t *v;
	size_t k;
	*nv4 = *nv6 = 0;
	json_array_foreach(json_object_get(ifc, "ipv4"), k, v)
		if (*nv4 < max && json_is_string(v) && inet_pton(AF_INET, json_string_value(v), &v4[*nv4]) == 1)
			(*nv4)++;
	json_array_foreach(json_object_get(ifc, "ipv6"), k, v)
		if (*nv6 < max && json_is_string(v) && inet_pton(AF_INET6, json_string_value(v), &v6[*nv6]) == 1)
			(*nv6)++;
}
