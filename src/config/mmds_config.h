/* The "mmds-config" part of a VM definition (PUT /mmds/config, --config-file's "mmds-config",
 * GET /vm/config): which network interfaces answer MMDS, at which address, in which version.
 * The data store itself is VMM data (src/mmds/mmds.h), not part of the definition. */
#ifndef PETREL_CONFIG_MMDS_CONFIG_H
#define PETREL_CONFIG_MMDS_CONFIG_H

#include "config/devices_config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct mmds_config {
	bool configured;
	unsigned version;              /* 1 or 2 */
	char *ifaces[DEVICES_MAX_NETS];
	unsigned nifaces;
	uint32_t ipv4;                 /* host order; 169.254.169.254 unless given */
	bool imds_compat;
};

void mmds_config_free(struct mmds_config *m);
/* Firecracker's MmdsConfig: network_interfaces (required, non-empty, strings), version "V1" |
 * "V2" (default V1), ipv4_address (link-local as Firecracker checks it), imds_compat; null
 * means not given; unknown fields are refused. -EINVAL with err (prefixed by where), -ENOMEM.
 * Whether the interfaces exist is the caller's check (mmds_config_check_ifaces). */
int mmds_config_from_json(json_t *o, const char *where, struct mmds_config *m, char *err, size_t errlen);
json_t *mmds_config_to_json(const struct mmds_config *m);
/* Every listed interface must be one of nets: 0 or -EINVAL with Firecracker's message. */
int mmds_config_check_ifaces(const struct mmds_config *m, const struct net_config *nets, unsigned nnets,
			     char *err, size_t errlen);
/* Whether iface_id is one of the listed interfaces. */
bool mmds_config_has_iface(const struct mmds_config *m, const char *iface_id);

/* The MMDS address when none is configured: 169.254.169.254 (host order). */
#define MMDS_DEFAULT_IPV4 0xa9fea9feu

/* "a.b.c.d" into a host-order address that Firecracker accepts for MMDS: link-local
 * 169.254.0.0/16 without the first and last /24 (169.254.1.0 .. 169.254.254.255).
 * 0, -EINVAL (not an IPv4 address) or -ERANGE (not such a link-local address). */
int mmds_parse_ipv4(const char *text, uint32_t *out);

#endif
