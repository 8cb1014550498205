/* The taps of a VM's interfaces on host networks (net_taps.c, docs/networks.md#a-vm-on-a-network):
 * made before its worker is configured, in every way a worker starts (a boot, a start from a
 * saved state, an arriving migration, a replication standby: worker_launch), removed when it
 * ends (worker_cleanup). Recorded in vm->taps, which the run state keeps, so that a petreld
 * started again removes them when the VM ends. */
#ifndef PETREL_MANAGER_NET_NET_TAPS_H
#define PETREL_MANAGER_NET_NET_TAPS_H

#include <jansson.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* For every interface of fc (the definition's Firecracker part the worker is given) that names
 * a network: the network must be active here (else -EBUSY "network NAME is not active"); a
 * persistent tap pt-<vm>-<i> (or pt<hash>-<i>) owned by the worker's uid/gid, its guards
 * (the MAC, and net_guard_addrs: the reservation's address and the lease of the MAC, the
 * interface's "ipv4"/"ipv6"; kept current with the leases by net_guards_follow),
 * then on the network's bridge, up; the interface in fc gets host_dev_name = the tap, and the
 * network's rate_limiter as its rx/tx limiter where it has none. On a failure what it made is
 * removed. m->lock not held. */
int net_taps_up(struct manager *m, struct mgr_vm *vm, json_t *fc, char *err, size_t errlen);
/* Guards removed and taps deleted, vm->taps emptied (m->lock held). */
void net_taps_down(struct manager *m, struct mgr_vm *vm);

#endif
