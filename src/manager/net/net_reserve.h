/* A VM's interfaces on host networks in its definition (net_reserve.c,
 * docs/networks.md#a-vm-on-a-network): at define a MAC for each (kept in the definition) and,
 * on a nat or isolated network, a reservation {vm, mac, ip} in the network's definition that
 * its dnsmasq is given at once; at undefine the reservations go; before a migration arrives,
 * the networks compared with the source's by their digests. m->lock held in all of them. */
#ifndef PETREL_MANAGER_NET_NET_RESERVE_H
#define PETREL_MANAGER_NET_NET_RESERVE_H

#include <jansson.h>
#include <stddef.h>

struct manager;
struct vm_def;

/* Every interface of def naming a network: the network defined here (else -EINVAL "no network
 * named ..."), a guest_mac given when it has none (the one the VM's definition so far gives
 * that interface on that network, else 52:54:00 and three random bytes, no other definition's
 * here) and written into def->doc, a reservation on a nat/isolated network (the
 * first free address of the subnet outside the DHCP range; one the MAC has is kept); the
 * networks whose reservations changed saved and their dnsmasq told. Reservations of def's VM
 * for MACs it no longer has on a network are dropped. Nothing is changed on a refusal. */
int net_vm_define(struct manager *m, struct vm_def *def, char *err, size_t errlen);
/* The reservations of the VM vm dropped from every network (its undefine). */
void net_vm_undefine(struct manager *m, const char *vm);
/* {"NAME": digest} of every network def names (a migration's request to the target), or NULL
 * when it names none. */
json_t *net_vm_digests(struct manager *m, const struct vm_def *def);
/* [{"mac", "ip", "expiry"}]: the DHCP leases the MACs of def's interfaces hold on their networks
 * here (a migration's request: the target's guards allow them until they expire, as its dnsmasq
 * has none of them), or NULL when none. */
json_t *net_vm_leases(struct manager *m, const struct vm_def *def);
/* Whether a VM def, arriving from another host that sent digests (may be NULL), can run here:
 * each network it names defined here (-EEXIST "no network NAME here"), with the source's
 * digest (-EEXIST "network NAME differs on this host"), and active (-EBUSY). */
int net_vm_check_arrival(struct manager *m, const struct vm_def *def, json_t *digests, char *err, size_t errlen);

#endif
