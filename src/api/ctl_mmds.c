/* The metadata service's requests: PUT, PATCH and GET /mmds (the data store, at any time) and
 * PUT /mmds/config (pre-boot; the "mmds-config" section of the definition). The service
 * (src/mmds/mmds.h) is made on first use and shared with the VM's MMDS interfaces, so what the
 * API puts in the store is what the guest reads. Texts are Firecracker's (docs/mmds.md). */
#include "api/core.h"
#include "mmds/mmds.h"

#include <string.h>

static struct mmds *service(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	struct mmds *m = mmds_ref(ctl_mmds_service_locked(ctl));
	size_t limit = ctl->mmds_limit;
	pthread_mutex_unlock(&ctl->lock);
	/* A --config-file may have made the service before the API server set the limit. */
	if (m && limit)
		mmds_set_limit(m, limit);
	return m;
}

int ctl_put_mmds(struct controller *ctl, json_t *body, bool patch, char *err, size_t errlen)
{
	struct mmds *m = service(ctl);
	if (!m)
		return error_oom(err, errlen);
	enum mmds_store_status st = patch ? mmds_patch(m, body) : mmds_put(m, body);
	mmds_unref(m);
	switch (st) {
	case MMDS_STORE_OK:
		return 0;
	case MMDS_STORE_LIMIT:
		return error_set(err, errlen, -E2BIG, "MMDS limit exceeded error: %s",
				 mmds_store_strerror(st));
	case MMDS_STORE_NOT_INIT:
		return error_set(err, errlen, -EINVAL, "MMDS error: %s", mmds_store_strerror(st));
	default:
		return error_oom(err, errlen);
	}
}

json_t *ctl_get_mmds(struct controller *ctl)
{
	struct mmds *m = service(ctl);
	json_t *v = m ? mmds_get(m) : NULL;
	mmds_unref(m);
	return v;
}

int ctl_put_mmds_config(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct mmds_config mc = { 0 };
	char msg[512];
	int r = mmds_config_from_json(body, "mmds-config", &mc, msg, sizeof(msg));
	if (r < 0)
		return error_set(err, errlen, r == -ENOMEM ? -ENOMEM : -EINVAL, "%s", msg);
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the MMDS configuration", err, errlen);
	if (r == 0 && mmds_config_check_ifaces(&mc, ctl->cfg.nets, ctl->cfg.nnets, msg, sizeof(msg)) < 0)
		r = error_set(err, errlen, -EINVAL, "mmds-config: %s", msg);
	struct mmds *m = r == 0 ? ctl_mmds_service_locked(ctl) : NULL;
	if (r == 0 && !m)
		r = error_oom(err, errlen);
	if (r == 0) {
		mmds_configure(m, mc.version == 2 ? MMDS_V2 : MMDS_V1, mc.imds_compat);
		mmds_config_free(&ctl->cfg.mmds);
		ctl->cfg.mmds = mc;
		memset(&mc, 0, sizeof(mc));
	}
	pthread_mutex_unlock(&ctl->lock);
	mmds_config_free(&mc);
	return r;
}

int ctl_mmds_metrics_locked(struct controller *ctl, json_t *out)
{
	return json_object_set_new(out, "mmds", mmds_metrics_json(ctl->mmds));
}
