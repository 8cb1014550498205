/* The guards on a VM's tap as an nftables netdev-family table at the tap's ingress hook (guards.h). */
#include "manager/net/guards.h"

#include "config/devices_config.h"
#include "manager/net/nft.h"
#include "util/error.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The counters, in the order of struct guard_counts: "drop_" + the reason ("arp" and "ip" are
 * words of nft's language, so a counter may not be called that). */
static const char *const reasons[] = { "mac", "arp", "ipv4", "ipv6", "dhcp_server", "router_adv" };

static uint64_t *count_of(struct guard_counts *c, size_t i)
{
	uint64_t *const fields[] = { &c->mac, &c->arp, &c->ipv4, &c->ipv6, &c->dhcp_server, &c->router_adv };
	return fields[i];
}

/* A tap's name as the rules may hold it: 1..15 of [A-Za-z0-9_.-], not starting with '-' or '.'
 * (it is part of the table's name and quoted in the rules: nothing else may reach nft). */
static int check_tap(const char *tap, char *err, size_t errlen)
{
	size_t n = tap ? strnlen(tap, 16) : 0;
	if (n == 0 || n > 15)
		return error_set(err, errlen, -EINVAL, "guards: a tap's name has 1 to 15 characters");
	if (tap[0] == '-' || tap[0] == '.')
		return error_set(err, errlen, -EINVAL, "guards: tap %s: a name may not start with '%c'", tap, tap[0]);
	for (size_t i = 0; i < n; i++) {
		char ch = tap[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
		      ch == '.' || ch == '-'))
			return error_set(err, errlen, -EINVAL, "guards: tap name has a character other than [A-Za-z0-9_.-]");
	}
	return 0;
}

static int check_counts(size_t nv4, size_t nv6, char *err, size_t errlen)
{
	if (nv4 > GUARDS_MAX_ADDRESSES || nv6 > GUARDS_MAX_ADDRESSES)
		return error_set(err, errlen, -EINVAL, "guards: %zu IPv4 and %zu IPv6 addresses: at most %d of each", nv4, nv6,
				 GUARDS_MAX_ADDRESSES);
	return 0;
}

/* The guard chain's priority at the tap's ingress hook: before anything else hooked there. */
#define GUARDS_PRIORITY -500

/* The table of a tap: "petrel-guard-<tap>". */
static void table_name(const char *tap, char out[32])
{
	snprintf(out, 32, "petrel-guard-%s", tap);
}

/* One set's elements, "add element" of them (none for an empty set). */
static void write_elements(FILE *f, const char *t, const char *set, int family, const void *addrs, size_t n)
{
	char a[INET6_ADDRSTRLEN];
	size_t size = family == AF_INET ? sizeof(struct in_addr) : sizeof(struct in6_addr);
	for (size_t i = 0; i < n; i++) {
		if (i == 0)
			fprintf(f, "add element netdev %s %s { ", t, set);
		fprintf(f, "%s%s", i ? ", " : "", inet_ntop(family, (const char *)addrs + i * size, a, sizeof(a)));
	}
	if (n)
		fprintf(f, " }\n");
}

/* Commands that replace the sets' contents. */
static void write_sets(FILE *f, const char *t, const struct in_addr *v4, size_t nv4, const struct in6_addr *v6,
		       size_t nv6)
{
	fprintf(f, "flush set netdev %s v4\nflush set netdev %s v6\n", t, t);
	write_elements(f, t, "v4", AF_INET, v4, nv4);
	write_elements(f, t, "v6", AF_INET6, v6, nv6);
}

/* fe80::/64 with the modified EUI-64 interface id of mac (RFC 4291 appendix A). */
static void link_local(const uint8_t mac[6], char out[INET6_ADDRSTRLEN])
{
	struct in6_addr a = { 0 };
	a.s6_addr[0] = 0xfe;
	a.s6_addr[1] = 0x80;
	a.s6_addr[8] = mac[0] ^ 0x02;
	a.s6_addr[9] = mac[1];
	a.s6_addr[10] = mac[2];
	a.s6_addr[11] = 0xff;
	a.s6_addr[12] = 0xfe;
	a.s6_addr[13] = mac[3];
	a.s6_addr[14] = mac[4];
	a.s6_addr[15] = mac[5];
	inet_ntop(AF_INET6, &a, out, INET6_ADDRSTRLEN);
}

/* The whole table as one transaction. `add` leaves what exists (the counters keep counting
 * across a second apply), `flush table` empties every chain, the sets are refilled. */
static void write_table(FILE *f, const struct guard_spec *g, const char *t)
{
	const uint8_t *m = g->mac;
	char mac[18], ll[INET6_ADDRSTRLEN];
	mac_format(m, mac);
	link_local(m, ll);

	fprintf(f, "add table netdev %s\nflush table netdev %s\n", t, t);
	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++)
		fprintf(f, "add counter netdev %s drop_%s\n", t, reasons[i]);
	fprintf(f, "add set netdev %s v4 { type ipv4_addr; }\nadd set netdev %s v6 { type ipv6_addr; }\n", t, t);
	write_sets(f, t, g->v4, g->nv4, g->v6, g->nv6);
	/* at the tap's own ingress: only its frames reach the chain, before the bridge sees them */
	fprintf(f, "add chain netdev %s guard { type filter hook ingress device \"%s\" priority %d; policy accept; }\n",
		t, g->tap, GUARDS_PRIORITY);

	/* $MAC: the VM's MAC, $LL: its link-local address */
	static const char *const rules[] = {
		/* the Ethernet header: the VM's MAC, no VLAN tag hiding what follows from the rules */
		"ether saddr != $MAC counter name \"drop_mac\" drop",
		"ether type { 8021q, 8021ad } counter name \"drop_mac\" drop",
		/* ARP: Ethernet/IPv4 only, from the VM's MAC and addresses (0.0.0.0: a probe) */
		"ether type arp arp htype != 1 counter name \"drop_arp\" drop",
		"ether type arp arp ptype != ip counter name \"drop_arp\" drop",
		"ether type arp arp hlen != 6 counter name \"drop_arp\" drop",
		"ether type arp arp plen != 4 counter name \"drop_arp\" drop",
		"arp saddr ether != $MAC counter name \"drop_arp\" drop",
		"arp saddr ip != 0.0.0.0 arp saddr ip != @v4 counter name \"drop_arp\" drop",
		/* a DHCP or DHCPv6 server, a router */
		"ether type ip udp sport 67 counter name \"drop_dhcp_server\" drop",
		"ether type ip6 udp sport 547 counter name \"drop_dhcp_server\" drop",
		"icmpv6 type nd-router-advert counter name \"drop_router_adv\" drop",
		/* IPv4 from its addresses, or a DHCP client without one */
		"ip saddr @v4 return",
		"ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return",
		"ether type ip counter name \"drop_ipv4\" drop",
		/* IPv6 from its addresses, its link-local, or :: in ICMPv6 (DAD, MLD) */
		"ip6 saddr @v6 return",
		"ip6 saddr $LL return",
		"ip6 saddr :: meta l4proto ipv6-icmp return",
		"ether type ip6 counter name \"drop_ipv6\" drop",
	};
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		fprintf(f, "add rule netdev %s guard ", t);
		for (const char *p = rules[i]; *p; p++) {
			if (!strncmp(p, "$MAC", 4)) {
				fputs(mac, f);
				p += 3;
			} else if (!strncmp(p, "$LL", 3)) {
				fputs(ll, f);
				p += 2;
			} else {
				fputc(*p, f);
			}
		}
		fputc('\n', f);
	}
}

/* Commands written into memory, then run as one transaction. */
struct cmds {
	char *text;
	size_t len;
	FILE *f;
};

static int cmds_open(struct cmds *c, char *err, size_t errlen)
{
	c->text = NULL;
	c->f = open_memstream(&c->text, &c->len);
	return c->f ? 0 : error_oom(err, errlen);
}

static int cmds_run(struct cmds *c, char *err, size_t errlen)
{
	int r = fclose(c->f) ? error_oom(err, errlen) : nft_run(c->text, err, errlen);
	free(c->text);
	return r;
}

int guards_apply(const struct guard_spec *g, char *err, size_t errlen)
{
	int r = check_tap(g->tap, err, errlen);
	if (r)
		return r;
	if (g->off)
		return guards_remove(g->tap, err, errlen);
	if ((r = check_counts(g->nv4, g->nv6, err, errlen)))
		return r;
	if (g->mac[0] & 1)
		return error_set(err, errlen, -EINVAL, "guards: tap %s: the VM's MAC is a multicast address", g->tap);
	char t[32];
	table_name(g->tap, t);
	struct cmds c;
	if ((r = cmds_open(&c, err, errlen)))
		return r;
	write_table(c.f, g, t);
	return cmds_run(&c, err, errlen);
}

int guards_set_addresses(const char *tap, const struct in_addr *v4, size_t nv4, const struct in6_addr *v6, size_t nv6,
			 char *err, size_t errlen)
{
	int r = check_tap(tap, err, errlen);
	if (r || (r = check_counts(nv4, nv6, err, errlen)))
		return r;
	char t[32], cmd[160];
	table_name(tap, t);
	snprintf(cmd, sizeof(cmd), "list set netdev %s v4", t);
	json_t *doc = NULL;
	r = nft_list_json(cmd, &doc, err, errlen);
	json_decref(doc);
	if (r == -ENOENT)
		return error_set(err, errlen, -ENOENT, "guards: tap %s has no guards", tap);
	if (r)
		return r;
	struct cmds c;
	if ((r = cmds_open(&c, err, errlen)))
		return r;
	write_sets(c.f, t, v4, nv4, v6, nv6);
	return cmds_run(&c, err, errlen);
}

int guards_remove(const char *tap, char *err, size_t errlen)
{
	int r = check_tap(tap, err, errlen);
	if (r)
		return r;
	char t[32], cmd[160];
	table_name(tap, t);
	/* adding first makes the delete succeed when there is no table */
	snprintf(cmd, sizeof(cmd), "add table netdev %s\ndelete table netdev %s\n", t, t);
	return nft_run(cmd, err, errlen);
}

int guards_counts(const char *tap, struct guard_counts *c, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	int r = check_tap(tap, err, errlen);
	if (r)
		return r;
	char t[32], cmd[160];
	table_name(tap, t);
	snprintf(cmd, sizeof(cmd), "list counters table netdev %s", t);
	json_t *doc = NULL;
	if ((r = nft_list_json(cmd, &doc, err, errlen)))
		return r == -ENOENT ? error_set(err, errlen, -ENOENT, "guards: tap %s has no guards", tap) : r;
	size_t i, found = 0;
	json_t *item;
	json_array_foreach(json_object_get(doc, "nftables"), i, item) {
		json_t *ctr = json_object_get(item, "counter");
		const char *name = json_string_value(json_object_get(ctr, "name"));
		json_t *packets = json_object_get(ctr, "packets");
		if (!name || strncmp(name, "drop_", 5) || !json_is_integer(packets))
			continue;
		for (size_t k = 0; k < ARRAY_SIZE(reasons); k++)
			if (!strcmp(name + 5, reasons[k])) {
				*count_of(c, k) = (uint64_t)json_integer_value(packets);
				found++;
			}
	}
	json_decref(doc);
	if (found != ARRAY_SIZE(reasons))
		return error_set(err, errlen, -EINVAL, "guards: tap %s: %zu of the %zu counters found", tap, found,
				 ARRAY_SIZE(reasons));
	return 0;
}
