/* The verbs of petreld's host networks (net_verbs.c), m->lock held: quick (a few ioctls, one
 * nftables transaction, a spawn), so they run on the API's thread, not as jobs. Each returns 0
 * or -errno with the reason: -EINVAL a bad definition (400), -EEXIST or -EBUSY a conflict or the
 * network's state (409). */
#ifndef PETREL_MANAGER_NET_NET_VERBS_H
#define PETREL_MANAGER_NET_NET_VERBS_H

#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_net;

/* Define (or redefine an inactive) network from its definition's text; nothing is written or
 * changed on a refusal. *out: the network. */
int net_define(struct manager *m, const char *text, size_t len, struct mgr_net **out, char *err, size_t errlen);
/* Undefine: not while active or while a defined VM names it. n is freed. */
int net_undefine(struct manager *m, struct mgr_net *n, char *err, size_t errlen);
int net_start(struct manager *m, struct mgr_net *n, char *err, size_t errlen);
/* Stop: not while a running VM has an interface on it. */
int net_destroy(struct manager *m, struct mgr_net *n, char *err, size_t errlen);
int net_set_autostart(struct manager *m, struct mgr_net *n, bool on, char *err, size_t errlen);

#endif
