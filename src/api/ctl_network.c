/* PUT and PATCH /network-interfaces/{id}: an interface before the start, its rate limiters on
 * a running microVM (its virtio-net or E1000). See controller.h. */
#include "api/core.h"
#include "devices/e1000/e1000.h"
#include "devices/virtio/net/net.h"
#include "vm/vm.h"

#include <string.h>

int ctl_put_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct net_config n;
	int r = net_config_from_json(body, NULL, &n, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = ctl_check_path_id("iface_id", n.iface_id, id, err, errlen)) < 0) {
		net_config_free(&n);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	struct vm_config *cfg = &ctl->cfg;
	r = ctl_check_not_started(ctl, "network interfaces", err, errlen);
	int found = -1;
	for (unsigned i = 0; r == 0 && i < cfg->nnets; i++) {
		struct net_config *o = &cfg->nets[i];
		if (!strcmp(o->iface_id, n.iface_id)) {
			found = (int)i;
			continue;
		}
		if (!strcmp(o->host_dev_name, n.host_dev_name))
			r = error_set(err, errlen, -EINVAL,
				      "host_dev_name: '%s' is already used by network interface '%s'",
				      n.host_dev_name, o->iface_id);
		else if (n.has_mac && o->has_mac && !memcmp(n.guest_mac, o->guest_mac, 6))
			r = error_set(err, errlen, -EINVAL,
				      "guest_mac: already used by network interface '%s'", o->iface_id);
	}
	if (r == 0 && found >= 0) {
		net_config_free(&cfg->nets[found]);
		cfg->nets[found] = n;
		memset(&n, 0, sizeof(n));
	} else if (r == 0) {
		char msg[256];
		r = vm_config_add_net(cfg, &n, msg, sizeof(msg));
		if (r < 0)
			r = error_set(err, errlen, -EINVAL, "%s", msg);
	}
	pthread_mutex_unlock(&ctl->lock);
	net_config_free(&n);
	return r;
}

int ctl_patch_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct net_update u;
	int r = net_update_from_json(body, NULL, &u, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = ctl_check_path_id("iface_id", u.iface_id, id, err, errlen);
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		int idx = -1;
		for (unsigned i = 0; i < ctl->cfg.nnets; i++)
			if (!strcmp(ctl->cfg.nets[i].iface_id, id))
				idx = (int)i;
		r = ctl_check_patch_device(ctl, "network interface", idx >= 0, id, err, errlen);
		if (r == 0 && !u.rx_rate_limiter.present && !u.tx_rate_limiter.present)
			r = error_set(err, errlen, -EINVAL,
				      "nothing to update: give rx_rate_limiter and/or tx_rate_limiter");
		if (r == 0) {
			/* The running device takes the new limits at once (a bucket given starts
			 * full, one left out is kept): the virtio-net or E1000 of this interface. */
			struct virtio_net *n;
			struct e1000 *card;
			vm_net_by_iface(ctl->vm, id, &n, &card);
			if (n)
				r = virtio_net_set_rate_limiters(n, &u.rx_rate_limiter, &u.tx_rate_limiter);
			else if (card)
				r = e1000_set_rate_limiters(card, &u.rx_rate_limiter, &u.tx_rate_limiter);
			if (r < 0)
				r = error_set(err, errlen, -EIO, "rate limiter: %s", strerror(-r));
			if (r == 0) {
				rate_limiter_config_patch(&ctl->cfg.nets[idx].rx_rate_limiter, &u.rx_rate_limiter);
				rate_limiter_config_patch(&ctl->cfg.nets[idx].tx_rate_limiter, &u.tx_rate_limiter);
			}
		}
		pthread_mutex_unlock(&ctl->lock);
	}
	net_update_free(&u);
	return r;
}
