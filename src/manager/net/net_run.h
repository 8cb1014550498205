/* Running a host network (net_run.c): its bridge with the gateway's address, its nftables table
 * and its dnsmasq for nat and isolated networks (a bridge network has only to exist), its run
 * state <state-dir>/networks/<name>/run.json ({"active", "dnsmasq_pid", "digest"}) that the
 * next petreld re-adopts from. m->lock held in all of them. */
#ifndef PETREL_MANAGER_NET_NET_RUN_H
#define PETREL_MANAGER_NET_NET_RUN_H

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_net;

/* Start n: on failure what it made is undone. */
int net_run_start(struct manager *m, struct mgr_net *n, char *err, size_t errlen);
/* Stop n: dnsmasq, its table and its bridge go; its leases file stays. */
int net_run_stop(struct manager *m, struct mgr_net *n, char *err, size_t errlen);
/* Start n's dnsmasq again (its conf rewritten), n active without one. */
int net_run_dnsmasq(struct manager *m, struct mgr_net *n, char *err, size_t errlen);
/* Re-adopt n if its run state says it was active and its bridge is there: the table applied
 * again, its dnsmasq kept when still running (else started). true when adopted. */
bool net_run_adopt(struct manager *m, struct mgr_net *n);

#endif
