/* petreld's record of its host networks (net_inventory.c): the list in struct manager (nets),
 * the definition files <defs-dir>/networks/<name>.json, each network's state directory
 * <state-dir>/networks/<name>/ and which VMs use a network. m->lock guards all of it. */
#ifndef PETREL_MANAGER_NET_NET_INVENTORY_H
#define PETREL_MANAGER_NET_NET_INVENTORY_H

#include "manager/net/net_def.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct manager;

struct mgr_net {
	struct mgr_net *next;
	struct net_def def;
	bool active;                /* started here (its bridge, table and dnsmasq up) */
	char digest[65];            /* of the definition it was started with ("" when inactive) */
	/* its dnsmasq (nat, isolated): petreld's child, or adopted from the last petreld */
	pid_t dnsmasq_pid;          /* 0: none running */
	int dnsmasq_pidfd;          /* -1: none */
	unsigned restarts;          /* dnsmasq restarts since petreld started */
	unsigned backoff;           /* restarts in a row, for the backoff */
	uint64_t started_ms;        /* CLOCK_MONOTONIC: when the running dnsmasq was started */
	uint64_t restart_at_ms;     /* 0: no restart due */
	/* its leases followed by the guards of its VMs' taps (net_service.c, net_guard_addrs.h) */
	int leases_fd;              /* inotify on its state directory, -1: none */
	uint64_t leases_due_ms;     /* CLOCK_MONOTONIC: when the guards follow the leases next; 0: not due */
	json_t *guards_seen;        /* tap -> hash of the addresses its guards were last given */
};

struct mgr_net *mgr_net_find(struct manager *m, const char *name);
/* <defs-dir>/networks, and <state-dir>/networks/<name> (made, 0755, with its parent). */
void mgr_net_defs_dir(struct manager *m, char *out, size_t size);
int mgr_net_state_dir(struct manager *m, const char *name, char *out, size_t size, char *err, size_t errlen);
/* Every definition of <defs-dir>/networks into m->nets (the ones that do not parse are logged
 * and left alone). */
void mgr_net_load_all(struct manager *m);
/* Write d's document atomically as its file (0644). */
int mgr_net_save(struct manager *m, const struct net_def *d, char *err, size_t errlen);
/* Write n's run state, <state-dir>/networks/<name>/run.json ({"active", "dnsmasq_pid", "digest"}). */
int mgr_net_run_save(struct manager *m, struct mgr_net *n);
int mgr_net_remove_file(struct manager *m, const char *name, char *err, size_t errlen);
/* Take n (already unlinked from m->nets) and free it. */
void mgr_net_free(struct mgr_net *n);
/* The name of a running VM with an interface on the network (its definition names it, or
 * petreld made a tap on it for its worker), or NULL: a network under a running VM is not torn
 * down. */
const char *mgr_net_in_use(struct manager *m, const char *name);
/* The name of a defined VM whose definition names the network, or NULL; and how many do. */
const char *mgr_net_named_by(struct manager *m, const char *name, unsigned *count);

#endif
