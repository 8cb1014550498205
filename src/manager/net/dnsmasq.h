/* A network's dnsmasq (dnsmasq.c): DHCP and DNS for a nat or isolated network, Debian's
 * /usr/sbin/dnsmasq (dnsmasq-base) run by petreld in a session of its own, so that it outlives a
 * petreld that is killed, from files in the network's state directory DIR:
 *   DIR/dnsmasq.conf  generated (the only option on its command line is --conf-file)
 *   DIR/hosts         the reservations, MAC,IP[,NAME] (dhcp-hostsfile: re-read on SIGHUP)
 *   DIR/leases        dnsmasq's lease file (kept across restarts)
 *   DIR/dnsmasq.log   its log (and its stderr), DIR/dnsmasq.pid */
#ifndef PETREL_MANAGER_NET_DNSMASQ_H
#define PETREL_MANAGER_NET_DNSMASQ_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct net_def;

#define DNSMASQ_PATH "/usr/sbin/dnsmasq"

/* Write DIR/dnsmasq.conf and DIR/hosts for d (atomically each). */
int dnsmasq_write_conf(const char *dir, const struct net_def *d, char *err, size_t errlen);
/* Write DIR/hosts (the reservations) and, when pid > 0, have that dnsmasq re-read it. */
int dnsmasq_write_hosts(const char *dir, const struct net_def *d, pid_t pid, char *err, size_t errlen);
/* Start dnsmasq on DIR's conf: its pid and a pidfd of it. */
int dnsmasq_spawn(const char *dir, pid_t *pid, int *pidfd, char *err, size_t errlen);
/* Whether pid is a dnsmasq running DIR's conf (its /proc/PID/cmdline names it). */
bool dnsmasq_is_ours(const char *dir, pid_t pid);
/* End it: SIGTERM, up to 2 s, then SIGKILL; reaped when it is petreld's child. */
void dnsmasq_stop(pid_t pid, int pidfd);

#endif
