/* The guards on a VM's tap (docs/networks.md#guards): what the VM may send into its bridge. One
 * nftables table per tap, `table netdev petrel-guard-<tap>`, whose chain at that tap's ingress
 * hook sees the frames the VM sends (before the bridge does, and no other tap's) and drops, each
 * under a named counter of its reason:
 *   mac          a source MAC that is not the VM's, or a VLAN tag (it would hide the headers below
 *                from the other guards);
 *   arp          ARP whose sender MAC is not the VM's, or whose sender IP is neither an allowed
 *                address nor 0.0.0.0 (a probe), or that is not Ethernet/IPv4 ARP;
 *   ipv4         an IPv4 source not in the allowed set (0.0.0.0 -> 255.255.255.255 udp 68 -> 67,
 *                a DHCP discover or request, passes);
 *   ipv6         an IPv6 source not in the allowed set, not the EUI-64 link-local of the MAC and
 *                not :: in ICMPv6 (duplicate address detection, MLD);
 *   dhcp_server  UDP from port 67 or 547: the VM answering DHCP or DHCPv6;
 *   router_adv   an ICMPv6 router advertisement.
 * The allowed addresses are two sets of the table, replaced by guards_set_addresses without
 * touching the rules. Everything else (other ethertypes from the VM's MAC) passes. */
#ifndef PETREL_MANAGER_NET_GUARDS_H
#define PETREL_MANAGER_NET_GUARDS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guard_spec {
	char tap[16];
	uint8_t mac[6];
	const struct in_addr *v4; size_t nv4;     /* addresses it may send from (reservation, leases, definition) */
	const struct in6_addr *v6; size_t nv6;    /* besides its EUI-64 link-local, always allowed */
	bool off;                                 /* the definition turned guards off: nothing applied */
};

/* Put the guards of g on its tap. The tap need not exist yet on Linux >= 6.16 (a netdev hook binds
 * its device when it appears); before 6.16 it must. Idempotent: a second call replaces the rules
 * and the sets in one transaction and keeps the counters. With g->off, removes any guards of the
 * tap instead. -EINVAL for a bad tap name, MAC or too many addresses, or with nft's message. */
int guards_apply(const struct guard_spec *g, char *err, size_t errlen);

/* Replace the addresses the tap's VM may send from; -ENOENT when the tap has no guards. */
int guards_set_addresses(const char *tap, const struct in_addr *v4, size_t nv4, const struct in6_addr *v6, size_t nv6,
			 char *err, size_t errlen);

/* Remove the tap's guards; 0 also when it has none. */
int guards_remove(const char *tap, char *err, size_t errlen);

struct guard_counts { uint64_t mac, arp, ipv4, ipv6, dhcp_server, router_adv; };  /* frames dropped */

/* The tap's frames dropped per reason (its named counters); -ENOENT when it has no guards. */
int guards_counts(const char *tap, struct guard_counts *c, char *err, size_t errlen);

/* The most addresses of each family a tap's guards take (more: -EINVAL). */
#define GUARDS_MAX_ADDRESSES 256

#endif
