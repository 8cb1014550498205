/* See mmds_config.h. Error texts are Firecracker's MmdsConfigError messages. */
#include "config/mmds_config.h"
#include "util/error.h"
#include "util/json_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mmds_parse_ipv4(const char *text, uint32_t *out)
{
	struct in_addr a;
	if (!text || inet_pton(AF_INET, text, &a) != 1)
		return -EINVAL;
	uint32_t ip = ntohl(a.s_addr);
	/* Firecracker's is_link_local_valid: 169.254.x.y with x in 1..254. */
	if ((ip >> 16) != 0xa9fe || ((ip >> 8) & 0xff) == 0 || ((ip >> 8) & 0xff) == 255)
		return -ERANGE;
	*out = ip;
	return 0;
}

void mmds_config_free(struct mmds_config *m)
{
	for (unsigned i = 0; i < m->nifaces; i++)
		free(m->ifaces[i]);
	memset(m, 0, sizeof(*m));
}

int mmds_config_from_json(json_t *o, const char *where, struct mmds_config *m, char *err, size_t errlen)
{
	static const char *const keys[] = { "version", "network_interfaces", "ipv4_address", "imds_compat",
					    NULL };
	struct mmds_config c = { .configured = true, .version = 1, .ipv4 = MMDS_DEFAULT_IPV4 };
	int r;
	if (!json_is_object(o))
		return error_set(err, errlen, -EINVAL, "%s: expected an object", where);
	if ((r = json_check_keys(o, where, keys, err, errlen)) < 0)
		return r;
	json_t *v = json_object_get(o, "version");
	if (v && !json_is_null(v)) {
		const char *s = json_is_string(v) ? json_string_value(v) : "";
		if (!strcmp(s, "V1"))
			c.version = 1;
		else if (!strcmp(s, "V2"))
			c.version = 2;
		else
			return error_set(err, errlen, -EINVAL, "%s.version: expected one of V1, V2", where);
	}
	json_t *ifs = json_object_get(o, "network_interfaces");
	if (!ifs || json_is_null(ifs))
		return error_set(err, errlen, -EINVAL, "%s.network_interfaces: missing required field",
				 where);
	if (!json_is_array(ifs))
		return error_set(err, errlen, -EINVAL, "%s.network_interfaces: expected an array of strings",
				 where);
	if (json_array_size(ifs) == 0)
		return error_set(err, errlen, -EINVAL,
				 "%s: The list of network interface IDs that allow forwarding "
				 "MMDS requests is empty.",
				 where);
	size_t i;
	json_t *el;
	json_array_foreach(ifs, i, el) {
		if (!json_is_string(el))
			return mmds_config_free(&c),
			       error_set(err, errlen, -EINVAL,
					 "%s.network_interfaces[%zu]: expected a string", where, i);
		bool dup = false;
		for (unsigned k = 0; k < c.nifaces; k++)
			dup |= !strcmp(c.ifaces[k], json_string_value(el));
		if (dup)
			continue;
		if (c.nifaces == DEVICES_MAX_NETS)
			return mmds_config_free(&c),
			       error_set(err, errlen, -EINVAL,
					 "%s: The list of network interface "
					 "IDs provided contains at least one ID that does not correspond to any existing "
					 "network interface.",
					 where);
		if (!(c.ifaces[c.nifaces] = strdup(json_string_value(el))))
			return mmds_config_free(&c), error_oom(err, errlen);
		c.nifaces++;
	}
	v = json_object_get(o, "ipv4_address");
	if (v && !json_is_null(v)) {
		r = json_is_string(v) ? mmds_parse_ipv4(json_string_value(v), &c.ipv4) : -EINVAL;
		if (r == -ERANGE)
			return mmds_config_free(&c),
			       error_set(err, errlen, -EINVAL, "%s: The MMDS IPv4 address is not link local.",
					 where);
		if (r < 0)
			return mmds_config_free(&c),
			       error_set(err, errlen, -EINVAL, "%s.ipv4_address: expected an IPv4 address",
					 where);
	}
	v = json_object_get(o, "imds_compat");
	if (v && !json_is_null(v)) {
		if (!json_is_boolean(v))
			return mmds_config_free(&c),
			       error_set(err, errlen, -EINVAL, "%s.imds_compat: expected a boolean", where);
		c.imds_compat = json_is_true(v);
	}
	mmds_config_free(m);
	*m = c;
	return 0;
}

json_t *mmds_config_to_json(const struct mmds_config *m)
{
	json_t *ifs = json_array();
	for (unsigned i = 0; ifs && i < m->nifaces; i++)
		if (json_array_append_new(ifs, json_string(m->ifaces[i])) < 0) {
			json_decref(ifs);
			return NULL;
		}
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(m->ipv4) };
	if (!ifs || !inet_ntop(AF_INET, &a, ip, sizeof(ip))) {
		json_decref(ifs);
		return NULL;
	}
	return json_pack("{s:s, s:o, s:s, s:b}", "version", m->version == 2 ? "V2" : "V1",
			 "network_interfaces", ifs, "ipv4_address", ip, "imds_compat", m->imds_compat);
}

bool mmds_config_has_iface(const struct mmds_config *m, const char *iface_id)
{
	for (unsigned i = 0; m->configured && iface_id && i < m->nifaces; i++)
		if (!strcmp(m->ifaces[i], iface_id))
			return true;
	return false;
}

int mmds_config_check_ifaces(const struct mmds_config *m, const struct net_config *nets, unsigned nnets,
			     char *err, size_t errlen)
{
	for (unsigned i = 0; i < m->nifaces; i++) {
		bool found = false;
		for (unsigned k = 0; k < nnets && !found; k++)
			found = nets[k].iface_id && !strcmp(nets[k].iface_id, m->ifaces[i]);
		if (!found)
			return error_set(err, errlen, -EINVAL,
					 "The list of network interface IDs provided contains "
					 "at least one ID that does not correspond to any existing network "
					 "interface.");
	}
	return 0;
}
