/* A network's nftables table (net_table.c): `table inet petrel-net-<name>`, its NAT and its
 * isolation (docs/networks.md#firewall), through nft.c. */
#ifndef PETREL_MANAGER_NET_NET_TABLE_H
#define PETREL_MANAGER_NET_NET_TABLE_H

#include <stdbool.h>
#include <stddef.h>

struct net_def;

/* Apply (or apply again: one transaction that replaces the table) d's table, nat or isolated;
 * nat also turns on net.ipv4.ip_forward. */
int net_table_apply(const struct net_def *d, char *err, size_t errlen);
/* Remove it: 0 also when there is none. */
int net_table_remove(const char *name, char *err, size_t errlen);
bool net_table_exists(const char *name);

#endif
