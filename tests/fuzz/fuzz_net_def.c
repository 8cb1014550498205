/* libFuzzer target: a host network's definition (net_def_parse), untrusted text from petreld's
 * API (POST /networks) and from the definitions directory, which a cluster's hosts share. Each
 * input is accepted or refused with -EINVAL and a message; what is accepted keeps the rules
 * every later user relies on (dnsmasq's conf and nft's ruleset are built from these values):
 * names and the bridge of their alphabets and lengths, the DHCP range inside the subnet and
 * without the gateway, reservations in the subnet, unique; and its stored document, parsed
 * again, is the same definition with the same digest. */
#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/net/net_def.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

static bool alphabet(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      strchr(extra, *s)))
			return false;
	return true;
}

static void check_accepted(const struct net_def *d)
{
	FUZZ_CHECK(net_name_ok(d->name));
	FUZZ_CHECK(d->bridge[0] && d->bridge[0] != '-' && strlen(d->bridge) <= NET_BRIDGE_MAX && alphabet(d->bridge, "_."));
	FUZZ_CHECK(alphabet(d->domain, "."));
	if (d->kind == NET_BRIDGE) {
		FUZZ_CHECK(d->prefix == 0 && d->nres == 0);
		return;
	}
	FUZZ_CHECK(d->prefix >= 8 && d->prefix <= 30);
	uint32_t mask = ~0u << (32 - d->prefix), gw = ntohl(d->gateway.s_addr), net = gw & mask;
	uint32_t lo = ntohl(d->dhcp_start.s_addr), hi = ntohl(d->dhcp_end.s_addr);
	FUZZ_CHECK((lo & mask) == net && (hi & mask) == net && lo <= hi);
	FUZZ_CHECK(lo != net && hi != (net | ~mask) && !(gw >= lo && gw <= hi));
	FUZZ_CHECK(gw != net && gw != (net | ~mask));
	for (size_t i = 0; i < d->nres; i++) {
		uint32_t ip = ntohl(d->res[i].ip.s_addr);
		FUZZ_CHECK((ip & mask) == net && ip != gw && ip != net && ip != (net | ~mask));
		FUZZ_CHECK(!(d->res[i].mac[0] & 1));
		for (size_t k = 0; k < i; k++)
			FUZZ_CHECK(d->res[k].ip.s_addr != d->res[i].ip.s_addr && memcmp(d->res[k].mac, d->res[i].mac, 6));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	struct net_def d;
	int r = net_def_parse((const char *)data, size, &d, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (r < 0) {
		FUZZ_CHECK(err[0] != 0 && d.doc == NULL);
		return 0;
	}
	check_accepted(&d);
	char hex[65], again_hex[65], sub[32], cerr[256];
	net_def_digest(&d, hex);
	net_def_subnet(&d, sub, sizeof(sub));
	FUZZ_CHECK(strlen(hex) == 64);
	FUZZ_CHECK(net_def_conflict(&d, &d, cerr, sizeof(cerr)) == -EEXIST);
	/* the stored document is the same definition */
	char *text = json_dumps(d.doc, JSON_INDENT(2));
	FUZZ_CHECK(text != NULL);
	struct net_def again;
	FUZZ_CHECK(net_def_parse(text, strlen(text), &again, err, sizeof(err)) == 0);
	net_def_digest(&again, again_hex);
	FUZZ_CHECK(!strcmp(hex, again_hex) && !strcmp(d.bridge, again.bridge) && d.nres == again.nres);
	free(text);
	net_def_free(&again);
	net_def_free(&d);
	return 0;
}
