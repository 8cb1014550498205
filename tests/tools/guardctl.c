/* petreld's guards on a tap (src/manager/net/guards.c) driven from the command line, for
 * tests/net/test_guards.py and bench/guards.py. Runs in the caller's network namespace.
 *
 *   guardctl apply TAP MAC [--v4 ADDR]... [--v6 ADDR]... [--off] [--repeat N [--fresh]]
 *   guardctl set TAP [--v4 ADDR]... [--v6 ADDR]...
 *   guardctl remove TAP
 *   guardctl counts TAP          prints {"mac": N, "arp": N, ...}
 *
 * --repeat N applies N times and prints {"apply_us": [...]} (each call's wall time); with --fresh
 * the guards are removed after each apply, and {"remove_us": [...]} says how long that took (an
 * apply on a tap without guards, as at a VM's start, vs one that replaces them). Exit status
 * 0, 2 for a usage error, 3 when the tap has no guards (-ENOENT), 1 on another error (printed). */
#include "config/devices_config.h"
#include "manager/net/guards.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ADDRS GUARDS_MAX_ADDRESSES

static struct in_addr v4[MAX_ADDRS];
static struct in6_addr v6[MAX_ADDRS];
static size_t nv4, nv6;

static int usage(void)
{
	fprintf(stderr, "usage: guardctl apply TAP MAC [--v4 A]... [--v6 A]... [--off] [--repeat N [--fresh]]\n"
			"       guardctl set TAP [--v4 A]... [--v6 A]...\n"
			"       guardctl remove TAP | counts TAP\n");
	return 2;
}

static int done(int r, const char *err)
{
	if (r == 0)
		return 0;
	fprintf(stderr, "guardctl: %s\n", err);
	return r == -ENOENT ? 3 : 1;
}

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return usage();
	const char *verb = argv[1], *tap = argv[2];
	char err[512] = "";
	struct guard_spec g = { 0 };
	int i = 3, repeat = 0;
	bool fresh = false;
	if (!strcmp(verb, "apply")) {
		if (argc < 4 || mac_parse(argv[3], g.mac) < 0 || strlen(tap) >= sizeof(g.tap))
			return usage();
		i = 4;
	}
	for (; i < argc; i++) {
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(argv[i], "--v4") && next && nv4 < MAX_ADDRS && inet_pton(AF_INET, next, &v4[nv4]) == 1)
			nv4++, i++;
		else if (!strcmp(argv[i], "--v6") && next && nv6 < MAX_ADDRS && inet_pton(AF_INET6, next, &v6[nv6]) == 1)
			nv6++, i++;
		else if (!strcmp(argv[i], "--off"))
			g.off = true;
		else if (!strcmp(argv[i], "--fresh"))
			fresh = true;
		else if (!strcmp(argv[i], "--repeat") && next && (repeat = atoi(next)) > 0)
			i++;
		else
			return usage();
	}
	if (!strcmp(verb, "apply")) {
		snprintf(g.tap, sizeof(g.tap), "%s", tap);
		g.v4 = v4, g.nv4 = nv4, g.v6 = v6, g.nv6 = nv6;
		if (!repeat)
			return done(guards_apply(&g, err, sizeof(err)), err);
		static double apply_us[1000], remove_us[1000];
		if (repeat > 1000)
			return usage();
		for (int k = 0; k < repeat; k++) {
			double t0 = now_us();
			int r = guards_apply(&g, err, sizeof(err));
			double t1 = now_us();
			if (r || (fresh && (r = guards_remove(tap, err, sizeof(err)))))
				return done(r, err);
			apply_us[k] = t1 - t0;
			remove_us[k] = now_us() - t1;
		}
		printf("{\"apply_us\": [");
		for (int k = 0; k < repeat; k++)
			printf("%s%.1f", k ? ", " : "", apply_us[k]);
		printf("]");
		if (fresh) {
			printf(", \"remove_us\": [");
			for (int k = 0; k < repeat; k++)
				printf("%s%.1f", k ? ", " : "", remove_us[k]);
			printf("]");
		}
		printf("}\n");
		return 0;
	}
	if (!strcmp(verb, "set"))
		return done(guards_set_addresses(tap, v4, nv4, v6, nv6, err, sizeof(err)), err);
	if (!strcmp(verb, "remove"))
		return done(guards_remove(tap, err, sizeof(err)), err);
	if (!strcmp(verb, "counts")) {
		struct guard_counts c;
		int r = guards_counts(tap, &c, err, sizeof(err));
		if (r)
			return done(r, err);
		printf("{\"mac\": %llu, \"arp\": %llu, \"ipv4\": %llu, \"ipv6\": %llu, \"dhcp_server\": %llu, "
		       "\"router_adv\": %llu}\n",
		       (unsigned long long)c.mac, (unsigned long long)c.arp, (unsigned long long)c.ipv4,
		       (unsigned long long)c.ipv6, (unsigned long long)c.dhcp_server, (unsigned long long)c.router_adv);
		return 0;
	}
	return usage();
}
