/* petreld's host networks as a service (net_service.c): loaded, re-adopted and autostarted at
 * petreld's start (before the VMs), and their dnsmasq supervised from the main loop
 * (supervise.c hands it a part of its poll set). */
#ifndef PETREL_MANAGER_NET_NET_SERVICE_H
#define PETREL_MANAGER_NET_NET_SERVICE_H

#include <poll.h>
#include <stddef.h>

struct manager;

/* The definitions, then re-adoption of the networks the last petreld left active, then the
 * autostart ones (m->lock taken here). */
void net_service_start(struct manager *m);
/* m->lock held: start the dnsmasq whose restart is due, put every dnsmasq's pidfd in pfd (at
 * most max) and lower *timeout (ms, -1: none) to the next restart due. The count put. */
size_t net_service_fds(struct manager *m, struct pollfd *pfd, size_t max, int *timeout);
/* m->lock held: the pidfds net_service_fds put, after poll: an ended dnsmasq is restarted after
 * 1 s, doubling to 30 s while it keeps ending within 30 s. */
void net_service_ready(struct manager *m, const struct pollfd *pfd, size_t n);

#endif
