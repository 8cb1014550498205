/* The addresses a VM's guards let it send from (net_guard_addrs.c, docs/networks.md#the-vms-addresses),
 * and keeping them current while it runs: its interface's own lists, the reservation of its MAC
 * on a nat or isolated network and the DHCP leases its MAC holds there, so that a VM whose address
 * comes from the DHCP range (no reservation: a second interface, reservations a user removed) or
 * whose lease changes may send from what dnsmasq gave it, and from nothing else. */
#ifndef PETREL_MANAGER_NET_NET_GUARD_ADDRS_H
#define PETREL_MANAGER_NET_NET_GUARD_ADDRS_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct manager;
struct mgr_net;
struct lease;

/* Whether the interface ifc (its element of the VM's definition) on n has its guards off: its
 * "guards", else the network's. */
bool net_guards_off(const struct mgr_net *n, json_t *ifc);

/* The addresses of ifc (MAC mac) on n: its "ipv4"/"ipv6" lists; on a nat or isolated network
 * also the reservation of mac, the leases of mac among l[nl] and the leases it brought from a
 * migration's source that have not expired (carried: [{"ip", "expiry"}] or NULL). Sorted, each
 * once, at most GUARDS_MAX_ADDRESSES of each family (v4 and v6 have room for that many). */
void net_guard_addrs(const struct mgr_net *n, json_t *ifc, const uint8_t mac[6], const struct lease *l, size_t nl,
		     json_t *carried, struct in_addr *v4, size_t *nv4, struct in6_addr *v6, size_t *nv6);
/* The leases of arriving ([{"mac", "ip", "expiry"}], checked) for mac, as [{"ip", "expiry"}],
 * or NULL when none. */
json_t *net_leases_carried(json_t *arriving, const uint8_t mac[6]);

/* n's leases that have not expired (its dnsmasq's lease file, read by leases_parse: untrusted),
 * *l malloc'd (NULL when none); *next_expiry: the earliest expiry among them (seconds since the
 * epoch), 0 when none expires. A file that is not there: no leases. 0 or -errno with the reason. */
int net_leases_current(struct manager *m, const struct mgr_net *n, struct lease **l, size_t *nl,
		       int64_t *next_expiry, char *err, size_t errlen);

/* m->lock held: the tap's guards were given these addresses (at the worker's start), so that
 * net_guards_follow knows what changes. */
void net_guards_given(struct mgr_net *n, const char *tap, const struct in_addr *v4, size_t nv4,
		      const struct in6_addr *v6, size_t nv6);

/* m->lock held: every tap petreld made on n for a running worker (vm->taps) that has guards gets
 * its addresses (net_guard_addrs with n's current leases) by guards_set_addresses when they
 * differ from what it was last given (net_guards_given, or the last call; every tap of a
 * petreld just started), and its VM the event "addresses changed". The ms after which a lease
 * of them expires (call again then; 1000 when a tap's guards could not be given their
 * addresses, to try again), or -1. */
int64_t net_guards_follow(struct manager *m, struct mgr_net *n);

#endif
