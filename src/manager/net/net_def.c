/* A host network's definition (net_def.h): parsed strictly (unknown fields refused), every
 * address checked against the subnet, defaults filled in the stored document so that two hosts
 * with the same file compute the same digest. */
#include "manager/net/net_def.h"
#include "manager/definition.h"
#include "config/devices_config.h"
#include "util/error.h"
#include "util/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = { [NET_NAT] = "nat", [NET_ISOLATED] = "isolated", [NET_BRIDGE] = "bridge" };

const char *net_kind_name(enum net_kind k)
{
	return (unsigned)k < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[k] : "?";
}

static bool chars_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      (*p && strchr(extra, *p))))
			return false;
	return true;
}

bool net_name_ok(const char *name)
{
	return chars_ok(name, NET_NAME_MAX, "");
}

/* A bridge's name: 1..15 of [A-Za-z0-9_.-], not "." or "..". */
static bool bridge_ok(const char *s)
{
	return chars_ok(s, NET_BRIDGE_MAX, "_.") && strcmp(s, ".") && strcmp(s, "..");
}

/* A DNS domain: labels of 1..63 [A-Za-z0-9-] (no '-' first or last) joined by dots. */
static bool domain_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > NET_DOMAIN_MAX)
		return false;
	for (const char *p = s; *p;) {
		size_t l = strcspn(p, ".");
		if (l == 0 || l > 63 || p[0] == '-' || p[l - 1] == '-')
			return false;
		for (size_t i = 0; i < l; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= '0' && p[i] <= '9') ||
			      p[i] == '-'))
				return false;
		p += l;
		if (*p == '.' && !*++p)
			return false;
	}
	return true;
}

/* A unicast MAC that is not all zeros. */
static bool mac_ok(const char *s, uint8_t mac[6])
{
	static const uint8_t zero[6];
	return mac_parse(s, mac) == 0 && !(mac[0] & 1) && memcmp(mac, zero, 6);
}

static uint32_t host_order(struct in_addr a)
{
	return ntohl(a.s_addr);
}

static uint32_t mask_of(unsigned prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

/* A dotted quad at o[key] into out: 0, or -EINVAL naming where. */
static int get_addr(json_t *o, const char *where, const char *key, struct in_addr *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return error_set(err, errlen, -EINVAL, "%s.%s: missing", where, key);
	if (!json_is_string(v) || inet_pton(AF_INET, json_string_value(v), out) != 1)
		return error_set(err, errlen, -EINVAL, "%s.%s: expected an IPv4 address such as \"10.77.0.1\"", where, key);
	return 0;
}

/* Whether a (host order) is in the subnet of d and is neither its network nor its broadcast
 * address. */
static bool in_subnet(const struct net_def *d, uint32_t a)
{
	uint32_t mask = mask_of(d->prefix), net = host_order(d->gateway) & mask;
	return (a & mask) == net && a != net && a != (net | ~mask);
}

static int parse_ipv4(json_t *o, struct net_def *d, char *err, size_t errlen)
{
	static const char *const keys[] = { "address", "prefix", "dhcp_start", "dhcp_end", NULL };
	if (!json_is_object(o))
		return error_set(err, errlen, -EINVAL, "ipv4: expected an object {address, prefix, dhcp_start, dhcp_end}");
	int e = def_only_keys(o, "ipv4", keys, err, errlen);
	if (e < 0 || (e = get_addr(o, "ipv4", "address", &d->gateway, err, errlen)) < 0 ||
	    (e = get_addr(o, "ipv4", "dhcp_start", &d->dhcp_start, err, errlen)) < 0 ||
	    (e = get_addr(o, "ipv4", "dhcp_end", &d->dhcp_end, err, errlen)) < 0)
		return e;
	json_t *p = json_object_get(o, "prefix");
	if (!json_is_integer(p) || json_integer_value(p) < 8 || json_integer_value(p) > 30)
		return error_set(err, errlen, -EINVAL, "ipv4.prefix: expected an integer from 8 to 30");
	d->prefix = (unsigned)json_integer_value(p);
	char sub[32];
	net_def_subnet(d, sub, sizeof(sub));
	uint32_t gw = host_order(d->gateway), lo = host_order(d->dhcp_start), hi = host_order(d->dhcp_end);
	if (!in_subnet(d, gw))
		return error_set(err, errlen, -EINVAL, "ipv4.address: %s is the network or broadcast address of %s",
				 json_string_value(json_object_get(o, "address")), sub);
	if (!in_subnet(d, lo) || !in_subnet(d, hi))
		return error_set(err, errlen, -EINVAL,
				 "ipv4: the DHCP range %s-%s must be inside %s (not its network or broadcast address)",
				 json_string_value(json_object_get(o, "dhcp_start")),
				 json_string_value(json_object_get(o, "dhcp_end")), sub);
	if (lo > hi)
		return error_set(err, errlen, -EINVAL, "ipv4: dhcp_start %s is after dhcp_end %s",
				 json_string_value(json_object_get(o, "dhcp_start")),
				 json_string_value(json_object_get(o, "dhcp_end")));
	if (gw >= lo && gw <= hi)
		return error_set(err, errlen, -EINVAL, "ipv4: the DHCP range %s-%s contains the gateway %s",
				 json_string_value(json_object_get(o, "dhcp_start")),
				 json_string_value(json_object_get(o, "dhcp_end")),
				 json_string_value(json_object_get(o, "address")));
	return 0;
}

static int parse_reservations(json_t *a, struct net_def *d, char *err, size_t errlen)
{
	static const char *const keys[] = { "vm", "mac", "ip", NULL };
	if (!json_is_array(a))
		return error_set(err, errlen, -EINVAL, "reservations: expected an array of {vm, mac, ip}");
	if (json_array_size(a) > NET_RESERVATIONS_MAX)
		return error_set(err, errlen, -EINVAL, "reservations: at most %d", NET_RESERVATIONS_MAX);
	if (d->kind == NET_BRIDGE && json_array_size(a))
		return error_set(err, errlen, -EINVAL, "reservations: a bridge network has no DHCP of petreld's");
	if (!json_array_size(a))
		return 0;
	if (!(d->res = calloc(json_array_size(a), sizeof(*d->res))))
		return error_set(err, errlen, -ENOMEM, "out of memory");
	size_t i;
	json_t *r;
	json_array_foreach(a, i, r) {
		char where[48];
		snprintf(where, sizeof(where), "reservations[%zu]", i);
		struct net_reservation *x = &d->res[i];
		int e;
		if (!json_is_object(r))
			return error_set(err, errlen, -EINVAL, "%s: expected an object {vm, mac, ip}", where);
		if ((e = def_only_keys(r, where, keys, err, errlen)) < 0 || (e = get_addr(r, where, "ip", &x->ip, err, errlen)) < 0)
			return e;
		json_t *mac = json_object_get(r, "mac"), *vm = json_object_get(r, "vm");
		if (!json_is_string(mac) || !mac_ok(json_string_value(mac), x->mac))
			return error_set(err, errlen, -EINVAL, "%s.mac: expected a unicast MAC such as \"52:54:00:12:34:56\"", where);
		if (vm && (!json_is_string(vm) || !mgr_vm_name_ok(json_string_value(vm))))
			return error_set(err, errlen, -EINVAL, "%s.vm: expected a VM's name (1 to %d of [A-Za-z0-9-])", where,
					 VM_NAME_MAX);
		if (vm)
			snprintf(x->vm, sizeof(x->vm), "%s", json_string_value(vm));
		if (!in_subnet(d, host_order(x->ip)) || x->ip.s_addr == d->gateway.s_addr) {
			char sub[32];
			net_def_subnet(d, sub, sizeof(sub));
			return error_set(err, errlen, -EINVAL, "%s.ip: %s is not a guest's address of %s", where,
					 json_string_value(json_object_get(r, "ip")), sub);
		}
		for (size_t k = 0; k < i; k++) {
			if (d->res[k].ip.s_addr == x->ip.s_addr)
				return error_set(err, errlen, -EINVAL, "%s.ip: %s is reserved twice", where,
						 json_string_value(json_object_get(r, "ip")));
			if (!memcmp(d->res[k].mac, x->mac, 6))
				return error_set(err, errlen, -EINVAL, "%s.mac: %s is reserved twice", where, json_string_value(mac));
		}
		d->nres = i + 1;
	}
	return 0;
}

static int get_bool(json_t *o, const char *key, bool dflt, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (v && !json_is_boolean(v))
		return error_set(err, errlen, -EINVAL, "%s: expected true or false", key);
	*out = v ? json_is_true(v) : dflt;
	return 0;
}

static int parse_doc(struct net_def *d, char *err, size_t errlen)
{
	static const char *const keys[] = { "name", "kind", "bridge", "ipv4", "domain", "autostart", "guards",
					     "reservations", "rate_limiter", NULL };
	json_t *o = d->doc;
	if (!json_is_object(o))
		return error_set(err, errlen, -EINVAL, "a network's definition is a JSON object");
	int e = def_only_keys(o, "network", keys, err, errlen);
	if (e < 0)
		return e;
	json_t *name = json_object_get(o, "name"), *kind = json_object_get(o, "kind"), *br = json_object_get(o, "bridge");
	if (!json_is_string(name) || !net_name_ok(json_string_value(name)))
		return error_set(err, errlen, -EINVAL, "name: expected 1 to %d of [A-Za-z0-9-], not starting with '-'",
				 NET_NAME_MAX);
	snprintf(d->name, sizeof(d->name), "%s", json_string_value(name));
	const char *k = json_string_value(kind);
	if (!k || (strcmp(k, "nat") && strcmp(k, "isolated") && strcmp(k, "bridge")))
		return error_set(err, errlen, -EINVAL, "kind: expected \"nat\", \"isolated\" or \"bridge\"");
	d->kind = !strcmp(k, "nat") ? NET_NAT : !strcmp(k, "isolated") ? NET_ISOLATED : NET_BRIDGE;
	if (br && (!json_is_string(br) || !bridge_ok(json_string_value(br))))
		return error_set(err, errlen, -EINVAL, "bridge: expected 1 to %d of [A-Za-z0-9_.-], not starting with '-'",
				 NET_BRIDGE_MAX);
	if (br)
		snprintf(d->bridge, sizeof(d->bridge), "%s", json_string_value(br));
	else if (d->kind == NET_BRIDGE)
		return error_set(err, errlen, -EINVAL, "bridge: a bridge network names the host's bridge it attaches to");
	else {
		snprintf(d->bridge, sizeof(d->bridge), "pn-%.12s", d->name);
		if (json_object_set_new(o, "bridge", json_string(d->bridge)) < 0)
			return error_set(err, errlen, -ENOMEM, "out of memory");
	}
	json_t *ip = json_object_get(o, "ipv4"), *dom = json_object_get(o, "domain");
	if (d->kind == NET_BRIDGE && (ip || dom))
		return error_set(err, errlen, -EINVAL, "%s: a bridge network has no address, DHCP or DNS of petreld's",
				 ip ? "ipv4" : "domain");
	if (d->kind != NET_BRIDGE && !ip)
		return error_set(err, errlen, -EINVAL, "ipv4: a %s network needs {address, prefix, dhcp_start, dhcp_end}", k);
	if (ip && (e = parse_ipv4(ip, d, err, errlen)) < 0)
		return e;
	if (dom && (!json_is_string(dom) || !domain_ok(json_string_value(dom))))
		return error_set(err, errlen, -EINVAL, "domain: expected a DNS name such as \"vm\" or \"lab.example\"");
	if (dom)
		snprintf(d->domain, sizeof(d->domain), "%s", json_string_value(dom));
	if ((e = get_bool(o, "autostart", false, &d->autostart, err, errlen)) < 0 ||
	    (e = get_bool(o, "guards", true, &d->guards, err, errlen)) < 0)
		return e;
	json_t *res = json_object_get(o, "reservations");
	if (res && (e = parse_reservations(res, d, err, errlen)) < 0)
		return e;
	struct rate_limiter_config rl = { 0 };
	return rate_limiter_config_from_json(o, "network", "rate_limiter", &rl, err, errlen);
}

int net_def_parse(const char *text, size_t len, struct net_def *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof(*d));
	if (len > NET_DEF_MAX_BYTES)
		return error_set(err, errlen, -EINVAL, "a network's definition is at most %d bytes", NET_DEF_MAX_BYTES);
	json_error_t je;
	if (!(d->doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je)))
		return error_set(err, errlen, -EINVAL, "not JSON: %s (line %d)", je.text, je.line);
	int e = parse_doc(d, err, errlen);
	if (e < 0)
		net_def_free(d);
	return e;
}

void net_def_free(struct net_def *d)
{
	free(d->res);
	json_decref(d->doc);
	d->res = NULL;
	d->nres = 0;
	d->doc = NULL;
}

void net_def_subnet(const struct net_def *d, char *out, size_t size)
{
	if (d->kind == NET_BRIDGE || !d->prefix) {
		snprintf(out, size, "%s", "");
		return;
	}
	struct in_addr net = { htonl(host_order(d->gateway) & mask_of(d->prefix)) };
	char a[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &net, a, sizeof(a));
	snprintf(out, size, "%s/%u", a, d->prefix);
}

int net_def_conflict(const struct net_def *a, const struct net_def *b, char *err, size_t errlen)
{
	if (!strcmp(a->bridge, b->bridge))
		return error_set(err, errlen, -EEXIST, "bridge %s is network %s's", b->bridge, b->name);
	if (a->kind == NET_BRIDGE || b->kind == NET_BRIDGE)
		return 0;
	/* two subnets overlap when the shorter prefix's mask gives both the same network */
	uint32_t mask = mask_of(a->prefix < b->prefix ? a->prefix : b->prefix);
	if ((host_order(a->gateway) & mask) == (host_order(b->gateway) & mask)) {
		char sa[32], sb[32];
		net_def_subnet(a, sa, sizeof(sa));
		net_def_subnet(b, sb, sizeof(sb));
		return error_set(err, errlen, -EEXIST, "subnet %s overlaps network %s's %s", sa, b->name, sb);
	}
	return 0;
}

void net_def_digest(const struct net_def *d, char hex[65])
{
	_cleanup_free_ char *s = json_dumps(d->doc, JSON_SORT_KEYS | JSON_COMPACT);
	struct sha256_ctx c;
	uint8_t h[SHA256_DIGEST_SIZE];
	sha256_init(&c);
	if (s)
		sha256_update(&c, strlen(s), (const uint8_t *)s);
	sha256_digest(&c, sizeof(h), h);
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
}
