/* The verbs of petreld's host networks (net_verbs.h). */
#include "manager/net/net_verbs.h"
#include "manager/net/net_inventory.h"
#include "manager/net/net_link.h"
#include "manager/net/net_run.h"
#include "manager/events.h"
#include "manager/fsutil.h"
#include "manager/mgr.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether d may be defined beside the other networks (old: the one it redefines, or NULL). */
static int define_check(struct manager *m, const struct net_def *d, const struct mgr_net *old, char *err,
			size_t errlen)
{
	if (old && old->active)
		return error_set(err, errlen, -EEXIST, "network %s is active: destroy it before redefining it", d->name);
	for (struct mgr_net *o = m->nets; o; o = o->next) {
		int e = o == old ? 0 : net_def_conflict(d, &o->def, err, errlen);
		if (e < 0)
			return e;
	}
	if (d->kind == NET_BRIDGE && !net_link_is_bridge(d->bridge))
		return error_set(err, errlen, -EINVAL, "bridge: the host has no bridge %s (a bridge network attaches to "
				 "an existing one)", d->bridge);
	if (d->kind != NET_BRIDGE && net_link_exists(d->bridge))
		return error_set(err, errlen, -EEXIST, "bridge: an interface named %s exists on this host (petreld makes "
				 "a %s network's bridge)", d->bridge, net_kind_name(d->kind));
	return 0;
}

int net_define(struct manager *m, const char *text, size_t len, struct mgr_net **out, char *err, size_t errlen)
{
	struct net_def d;
	int e = net_def_parse(text, len, &d, err, errlen);
	if (e < 0)
		return e;
	struct mgr_net *old = mgr_net_find(m, d.name), *n = old;
	if ((e = define_check(m, &d, old, err, errlen)) < 0 || (!n && !(n = calloc(1, sizeof(*n)))) ||
	    (e = mgr_net_save(m, &d, err, errlen)) < 0) {
		if (!old)
			free(n);
		net_def_free(&d);
		return e < 0 ? e : error_set(err, errlen, -ENOMEM, "out of memory");
	}
	if (old) {
		net_def_free(&old->def);
	} else {
		n->dnsmasq_pidfd = -1;
		n->leases_fd = -1;
		n->next = m->nets;
		m->nets = n;
	}
	n->def = d;
	fprintf(stderr, "petreld: network %s %sdefined\n", d.name, old ? "re" : "");
	mgr_net_event_emit(m, d.name, old ? "network redefined" : "network defined",
			   json_pack("{s:s, s:s}", "kind", net_kind_name(d.kind), "bridge", d.bridge));
	*out = n;
	return 0;
}

int net_undefine(struct manager *m, struct mgr_net *n, char *err, size_t errlen)
{
	const char *vm = mgr_net_named_by(m, n->def.name, NULL);
	if (n->active)
		return error_set(err, errlen, -EBUSY, "network %s is active: destroy it first", n->def.name);
	if (vm)
		return error_set(err, errlen, -EBUSY, "network %s: VM %s's definition names it", n->def.name, vm);
	int e = mgr_net_remove_file(m, n->def.name, err, errlen);
	if (e < 0)
		return e;
	char dir[PATH_MAX];
	if (snprintf(dir, sizeof(dir), "%s/networks/%s", m->state_dir, n->def.name) < (int)sizeof(dir))
		rm_tree(dir);
	for (struct mgr_net **p = &m->nets; *p; p = &(*p)->next)
		if (*p == n) {
			*p = n->next;
			break;
		}
	fprintf(stderr, "petreld: network %s undefined\n", n->def.name);
	mgr_net_event_emit(m, n->def.name, "network undefined", NULL);
	mgr_net_free(n);
	return 0;
}

int net_start(struct manager *m, struct mgr_net *n, char *err, size_t errlen)
{
	if (n->active)
		return error_set(err, errlen, -EBUSY, "network %s is already active", n->def.name);
	int e = net_run_start(m, n, err, errlen);
	if (e >= 0)
		mgr_net_event_emit(m, n->def.name, "network started", json_pack("{s:i}", "dnsmasq_pid", (int)n->dnsmasq_pid));
	return e;
}

int net_destroy(struct manager *m, struct mgr_net *n, char *err, size_t errlen)
{
	const char *vm = mgr_net_in_use(m, n->def.name);
	if (!n->active)
		return error_set(err, errlen, -EBUSY, "network %s is not active", n->def.name);
	if (vm)
		return error_set(err, errlen, -EBUSY, "network %s: VM %s runs on it", n->def.name, vm);
	int e = net_run_stop(m, n, err, errlen);
	if (e >= 0)
		mgr_net_event_emit(m, n->def.name, "network destroyed", NULL);
	return e;
}

int net_set_autostart(struct manager *m, struct mgr_net *n, bool on, char *err, size_t errlen)
{
	json_t *was = json_incref(json_object_get(n->def.doc, "autostart"));
	json_object_set_new(n->def.doc, "autostart", json_boolean(on));
	int e = mgr_net_save(m, &n->def, err, errlen);
	if (e < 0) {
		if (was)
			json_object_set(n->def.doc, "autostart", was);
		else
			json_object_del(n->def.doc, "autostart");
	} else {
		n->def.autostart = on;
		mgr_net_event_emit(m, n->def.name, "network autostart", json_pack("{s:b}", "autostart", on));
	}
	json_decref(was);
	return e;
}
