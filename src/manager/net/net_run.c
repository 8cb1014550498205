/* Running a host network (net_run.h). Nothing here waits on a guest: a start is a few ioctls,
 * one nftables transaction and a spawn. */
#include "manager/net/net_run.h"
#include "manager/net/dnsmasq.h"
#include "manager/net/net_inventory.h"
#include "manager/net/net_link.h"
#include "manager/net/net_table.h"
#include "manager/mgr.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int net_run_dnsmasq(struct manager *m, struct mgr_net *n, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	int e = mgr_net_state_dir(m, n->def.name, dir, sizeof(dir), err, errlen);
	if (e < 0 || (e = dnsmasq_write_conf(dir, &n->def, err, errlen)) < 0 ||
	    (e = dnsmasq_spawn(dir, &n->dnsmasq_pid, &n->dnsmasq_pidfd, err, errlen)) < 0)
		return e;
	n->started_ms = now_ms();
	n->restart_at_ms = 0;
	mgr_net_run_save(m, n);
	return 0;
}

/* The bridge with the gateway's address, up. *made: it was created here. */
static int bridge_up(struct mgr_net *n, bool *made, char *err, size_t errlen)
{
	const struct net_def *d = &n->def;
	int e;
	*made = false;
	if (net_link_exists(d->bridge) && !net_link_is_bridge(d->bridge))
		return error_set(err, errlen, -EEXIST, "an interface named %s exists on this host and is no bridge",
				 d->bridge);
	if (!net_link_exists(d->bridge)) {
		if ((e = net_bridge_create(d->bridge, err, errlen)) < 0)
			return e;
		*made = true;
	}
	if ((e = net_link_set_ipv4(d->bridge, d->gateway, d->prefix, err, errlen)) < 0 ||
	    (e = net_link_up(d->bridge, err, errlen)) < 0)
		return e;
	return 0;
}

int net_run_start(struct manager *m, struct mgr_net *n, char *err, size_t errlen)
{
	const struct net_def *d = &n->def;
	if (d->kind == NET_BRIDGE) {
		if (!net_link_is_bridge(d->bridge))
			return error_set(err, errlen, -ENOENT, "network %s: the host has no bridge %s", d->name, d->bridge);
	} else {
		bool made = false;
		int e = bridge_up(n, &made, err, errlen);
		if (e == 0)
			e = net_table_apply(d, err, errlen);
		if (e == 0)
			e = net_run_dnsmasq(m, n, err, errlen);
		if (e < 0) {
			char ignored[256];
			net_table_remove(d->name, ignored, sizeof(ignored));
			if (made)
				net_link_delete(d->bridge, ignored, sizeof(ignored));
			return e;
		}
	}
	n->active = true;
	net_def_digest(d, n->digest);
	mgr_net_run_save(m, n);
	fprintf(stderr, "petreld: network %s (%s, bridge %s) started%s\n", d->name, net_kind_name(d->kind), d->bridge,
		n->dnsmasq_pid ? "" : " (no DHCP of petreld's)");
	return 0;
}

int net_run_stop(struct manager *m, struct mgr_net *n, char *err, size_t errlen)
{
	const struct net_def *d = &n->def;
	dnsmasq_stop(n->dnsmasq_pid, n->dnsmasq_pidfd);
	if (n->dnsmasq_pidfd >= 0)
		close(n->dnsmasq_pidfd);
	n->dnsmasq_pidfd = -1;
	n->dnsmasq_pid = 0;
	n->restart_at_ms = 0;
	int e = 0;
	if (d->kind != NET_BRIDGE) {
		e = net_table_remove(d->name, err, errlen);
		int e2 = net_link_delete(d->bridge, e < 0 ? (char[256]){ 0 } : err, e < 0 ? 256 : errlen);
		e = e < 0 ? e : e2;
	}
	n->active = false;
	n->digest[0] = '\0';
	mgr_net_run_save(m, n);
	fprintf(stderr, "petreld: network %s stopped\n", d->name);
	return e;
}

bool net_run_adopt(struct manager *m, struct mgr_net *n)
{
	char dir[PATH_MAX], path[PATH_MAX + 16], err[512];
	if (mgr_net_state_dir(m, n->def.name, dir, sizeof(dir), err, sizeof(err)) < 0)
		return false;
	snprintf(path, sizeof(path), "%s/run.json", dir);
	json_t *o = json_load_file(path, 0, NULL);
	bool active = json_is_true(json_object_get(o, "active"));
	pid_t pid = (pid_t)json_integer_value(json_object_get(o, "dnsmasq_pid"));
	const char *digest = json_string_value(json_object_get(o, "digest"));
	snprintf(n->digest, sizeof(n->digest), "%s", digest ? digest : "");
	json_decref(o);
	const struct net_def *d = &n->def;
	if (!active)
		return false;
	if (!net_link_is_bridge(d->bridge)) {
		fprintf(stderr, "petreld: network %s was active but its bridge %s is gone: not adopted\n", d->name, d->bridge);
		n->digest[0] = '\0';
		mgr_net_run_save(m, n);
		return false;
	}
	n->active = true;
	char now[65];
	net_def_digest(d, now);
	if (strcmp(now, n->digest))
		fprintf(stderr, "petreld: network %s: its definition changed since it was started: destroy and start it "
			"to apply it\n", d->name);
	if (d->kind == NET_BRIDGE)
		return true;
	bool made;
	if (bridge_up(n, &made, err, sizeof(err)) < 0 || net_table_apply(d, err, sizeof(err)) < 0)
		fprintf(stderr, "petreld: network %s: adopting: %s\n", d->name, err);
	int fd = dnsmasq_is_ours(dir, pid) ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (fd >= 0) {
		n->dnsmasq_pid = pid;
		n->dnsmasq_pidfd = fd;
		n->started_ms = now_ms();
	} else if (net_run_dnsmasq(m, n, err, sizeof(err)) < 0) {
		fprintf(stderr, "petreld: network %s: cannot start its dnsmasq: %s (retried)\n", d->name, err);
		n->restart_at_ms = now_ms() + 1000;
	}
	fprintf(stderr, "petreld: network %s adopted (dnsmasq %d%s)\n", d->name, (int)n->dnsmasq_pid,
		fd >= 0 ? ", still running" : ", started again");
	mgr_net_run_save(m, n);
	return true;
}
