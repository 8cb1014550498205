/* Bridges and persistent taps by ioctl (net_link.c): what petreld's networks create on the
 * host, with no `ip` command line. Every name is an interface name (1..15 bytes, checked by the
 * caller's parser); errors name the interface and the call that failed. */
#ifndef PETREL_MANAGER_NET_NET_LINK_H
#define PETREL_MANAGER_NET_NET_LINK_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

bool net_link_exists(const char *name);
bool net_link_is_bridge(const char *name);
/* A new bridge (SIOCBRADDBR): -EEXIST when an interface has the name. */
int net_bridge_create(const char *name, char *err, size_t errlen);
/* Address and netmask (SIOCSIFADDR, SIOCSIFNETMASK, SIOCSIFBRDADDR): sets, or sets again. */
int net_link_set_ipv4(const char *name, struct in_addr addr, unsigned prefix, char *err, size_t errlen);
int net_link_up(const char *name, char *err, size_t errlen);
/* A persistent tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) that uid/gid may open (TUNSETOWNER,
 * TUNSETGROUP, TUNSETPERSIST): it stays when the fd closes. -EEXIST when the name is taken. */
int net_tap_create(const char *name, uid_t uid, gid_t gid, char *err, size_t errlen);
/* Put ifname on / take it off bridge (SIOCBRADDIF, SIOCBRDELIF). */
int net_bridge_attach(const char *bridge, const char *ifname, char *err, size_t errlen);
int net_bridge_detach(const char *bridge, const char *ifname, char *err, size_t errlen);
/* Delete a bridge (down, then SIOCBRDELBR) or a persistent tap (TUNSETPERSIST 0); 0 also when
 * there is no such interface; -EOPNOTSUPP for another kind of interface (petreld deletes only
 * what it makes). */
int net_link_delete(const char *name, char *err, size_t errlen);

#endif
