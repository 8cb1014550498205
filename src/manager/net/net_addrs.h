/* A VM's interfaces and addresses as the API shows them (net_addrs.c): for each interface of its
 * definition, its network (or the host's tap), its MAC, its address (the reservation of its MAC,
 * else dnsmasq's lease of it: the network's lease file through leases_parse) and the tap its
 * worker has. m->lock held. */
#ifndef PETREL_MANAGER_NET_NET_ADDRS_H
#define PETREL_MANAGER_NET_NET_ADDRS_H

#include <jansson.h>

struct manager;
struct mgr_vm;

/* [{"iface_id", "network" or "host_dev_name", "mac", "ip", "tap"}] (fields it has), or NULL
 * when the definition has no interface. */
json_t *net_vm_interfaces(struct manager *m, const struct mgr_vm *vm);
/* The addresses of those interfaces, ["10.77.0.5"], or NULL when none is known. */
json_t *net_vm_addresses(struct manager *m, const struct mgr_vm *vm);

#endif
