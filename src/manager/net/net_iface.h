/* A VM interface on a host network (net_iface.c, docs/networks.md#a-vm-on-a-network): in a VM's
 * definition, an element of "network-interfaces" names either a tap of the host
 * ("host_dev_name", Firecracker's) or a network of petreld's:
 *   {"iface_id": "eth0", "network": "default", "guest_mac": "52:54:00:..." (petreld gives one),
 *    "guards": false (optional: the network's default), "ipv4": [...], "ipv6": [...] (optional:
 *    the addresses the guards let it send from on a bridge network)}
 * Pure: the fields' shape, and the element as the worker gets it (host_dev_name = the tap
 * petreld made, the network's fields gone). */
#ifndef PETREL_MANAGER_NET_NET_IFACE_H
#define PETREL_MANAGER_NET_NET_IFACE_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The network an interface names, or NULL (a tap of the host's, or not an object). */
const char *net_iface_network(json_t *ifc);
/* The network fields of network-interfaces[i]: exactly one of network and host_dev_name, a
 * network's name, guards a boolean, ipv4/ipv6 arrays of addresses (at most 256 each), and these
 * only with a network. -EINVAL naming the field. */
int net_iface_check(json_t *ifc, size_t i, char *err, size_t errlen);
/* A copy of a "network-interfaces" array as Firecracker's parser takes it: an interface on a
 * network gets a stand-in host_dev_name and loses the network's fields (NULL: out of memory). */
json_t *net_iface_checkable(json_t *ifaces);
/* ifc as the worker is given it: host_dev_name = tap, no network fields. */
void net_iface_to_worker(json_t *ifc, const char *tap);
/* Its guest_mac, parsed: false when it has none (or not a MAC). */
bool net_iface_mac(json_t *ifc, uint8_t mac[6]);
/* Its "ipv4" and "ipv6" lists (checked by net_iface_check) into v4[*nv4], v6[*nv6] (each room
 * for max). */
void net_iface_addrs(json_t *ifc, struct in_addr *v4, size_t *nv4, struct in6_addr *v6, size_t *nv6, size_t max);

#endif
