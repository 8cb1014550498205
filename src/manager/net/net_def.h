/* A host network's definition (net_def.c, docs/networks.md): one checked JSON file,
 * <defs-dir>/networks/<name>.json, what petreld keeps of it (struct net_def), how two definitions
 * conflict, and its digest (hosts compare a network's definitions by it). Pure: no file, no
 * interface is looked at (the verbs check that a `bridge` kind's bridge exists). */
#ifndef PETREL_MANAGER_NET_NET_DEF_H
#define PETREL_MANAGER_NET_NET_DEF_H

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_NAME_MAX 32
#define NET_BRIDGE_MAX 15          /* IFNAMSIZ - 1 */
#define NET_DOMAIN_MAX 253
#define NET_RESERVATIONS_MAX 4096
#define NET_DEF_MAX_BYTES (1 << 20)

enum net_kind { NET_NAT, NET_ISOLATED, NET_BRIDGE };

struct net_reservation {
	char vm[65];                /* "" when none is named */
	uint8_t mac[6];
	struct in_addr ip;
};

struct net_def {
	char name[NET_NAME_MAX + 1];
	enum net_kind kind;
	char bridge[NET_BRIDGE_MAX + 1];
	/* nat and isolated only (network byte order) */
	struct in_addr gateway, dhcp_start, dhcp_end;
	unsigned prefix;            /* 8..30; 0 for the bridge kind */
	char domain[NET_DOMAIN_MAX + 1]; /* "" when none */
	bool autostart, guards;
	struct net_reservation *res;
	size_t nres;
	json_t *doc;                /* the whole document as stored, its defaults filled in (owned) */
};

/* text -> checked definition (d zeroed first; on failure it holds nothing to free). -EINVAL
 * with the field and the reason in err. The default bridge name is written into d->doc. */
int net_def_parse(const char *text, size_t len, struct net_def *d, char *err, size_t errlen);
void net_def_free(struct net_def *d);
/* Whether a and b (two networks of one host, a new one and one defined) cannot both exist:
 * -EEXIST with the reason (the same bridge, overlapping subnets), else 0. Names are the
 * caller's to compare. */
int net_def_conflict(const struct net_def *a, const struct net_def *b, char *err, size_t errlen);
/* sha256 of d->doc dumped with JSON_SORT_KEYS | JSON_COMPACT, in hex. */
void net_def_digest(const struct net_def *d, char hex[65]);
const char *net_kind_name(enum net_kind k);
/* The subnet, "10.77.0.0/24"; "" for the bridge kind. */
void net_def_subnet(const struct net_def *d, char *out, size_t size);
/* A network's name: 1..NET_NAME_MAX of [A-Za-z0-9-], no '-' first. */
bool net_name_ok(const char *name);

#endif
