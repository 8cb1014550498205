/* A network's nftables table (net_table.h). Every value in the ruleset comes from a checked
 * definition (net_def.c: the names are [A-Za-z0-9_.-], the subnet a parsed address), so the
 * text nft reads cannot be steered by a definition. Guests on one bridge reach each other by
 * bridging, which the inet family sees only with br_netfilter: the forward chain accepts the
 * bridge to itself first, so that either way they do. */
#include "manager/net/net_table.h"
#include "manager/net/net_def.h"
#include "manager/net/nft.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLE "inet petrel-net-"

/* net.ipv4.ip_forward = 1 (a NAT network forwards its guests' traffic). */
static int ip_forward_on(const char *net, char *err, size_t errlen)
{
	const char *path = "/proc/sys/net/ipv4/ip_forward";
	char now = 0;
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || read(fd, &now, 1) != 1)
		return error_set(err, errlen, -errno, "cannot read %s: %s", path, strerror(errno));
	if (now == '1')
		return 0;
	if (pwrite(fd, "1\n", 2, 0) != 2)
		return error_set(err, errlen, -errno, "cannot turn on %s: %s", path, strerror(errno));
	fprintf(stderr, "petreld: network %s: turned on net.ipv4.ip_forward (NAT)\n", net);
	return 0;
}

int net_table_apply(const struct net_def *d, char *err, size_t errlen)
{
	if (d->kind == NET_BRIDGE)
		return 0;
	char sub[32], *rules = NULL;
	net_def_subnet(d, sub, sizeof(sub));
	const char *br = d->bridge;
	bool nat = d->kind == NET_NAT;
	char nat_chain[256] = "", nat_fwd[160] = "";
	if (nat)
		snprintf(nat_fwd, sizeof(nat_fwd), "    iifname \"%s\" accept\n"
			 "    oifname \"%s\" ct state established,related accept\n", br, br);
	if (nat)
		snprintf(nat_chain, sizeof(nat_chain),
			 "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;\n"
			 "    ip saddr %s ip daddr != %s masquerade\n  }\n", sub, sub);
	int n = asprintf(&rules,
		"table " TABLE "%s\n"
		"delete table " TABLE "%s\n"
		"table " TABLE "%s {\n"
		"%s"
		"  chain forward { type filter hook forward priority filter; policy accept;\n"
		"    iifname \"%s\" oifname \"%s\" accept\n"
		"%s"
		"    iifname \"%s\" drop\n"
		"    oifname \"%s\" drop\n"
		"  }\n"
		"  chain input { type filter hook input priority filter; policy accept;\n"
		"    iifname \"%s\" udp dport 67 accept\n"
		"    iifname \"%s\" meta l4proto { tcp, udp } th dport 53 accept\n"
		"%s%s%s"
		"  }\n"
		"}\n",
		d->name, d->name, d->name, nat_chain, br, br, nat_fwd, br, br, br, br,
		nat ? "" : "    iifname \"", nat ? "" : br, nat ? "" : "\" drop\n");
	if (n < 0)
		return error_set(err, errlen, -ENOMEM, "out of memory");
	int e = nft_run(rules, err, errlen);
	free(rules);
	if (e < 0 || !nat)
		return e;
	return ip_forward_on(d->name, err, errlen);
}

int net_table_remove(const char *name, char *err, size_t errlen)
{
	if (!net_table_exists(name))
		return 0;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "delete table " TABLE "%s\n", name);
	return nft_run(cmd, err, errlen);
}

bool net_table_exists(const char *name)
{
	char cmd[128], err[256];
	json_t *out = NULL;
	snprintf(cmd, sizeof(cmd), "list table " TABLE "%s", name);
	int e = nft_list_json(cmd, &out, err, sizeof(err));
	json_decref(out);
	return e == 0;
}
