/* What GET answers: the instance (GET /), the machine configuration (GET /machine-config)
 * and the whole definition (GET /vm/config). See controller.h. */
#include "api/ctl_internal.h"
#include "api/version.h"

json_t *ctl_instance_info(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", ctl->id, "state",
			      instance_state_name(ctl->state), "vmm_version", FC_COMPAT_VERSION,
			      "app_name", "petrel");
	pthread_mutex_unlock(&ctl->lock);
	return o;
}

json_t *ctl_machine_config(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = vm_machine_config_to_json(&ctl->cfg);
	pthread_mutex_unlock(&ctl->lock);
	return o;
}

static int set_opt_string(json_t *o, const char *key, const char *val)
{
	return val ? json_object_set_new(o, key, json_string(val)) : 0;
}

static json_t *vm_config_locked(struct controller *ctl)
{
	json_t *o = vm_config_to_json(&ctl->cfg);
	int err = !o;
	if (!err && ctl->logger.configured) {
		const struct logger_settings *l = &ctl->logger;
		json_t *lg = json_pack("{s:s, s:b, s:b}", "level", ctl_level_name(l->level), "show_level",
				       l->show_level, "show_log_origin", l->show_log_origin);
		err = !lg || set_opt_string(lg, "log_path", l->log_path) < 0 ||
		      set_opt_string(lg, "module", l->module) < 0 ||
		      json_object_set_new(o, "logger", lg) < 0;
	}
	if (!err && metrics_configured(&ctl->metrics)) {
		json_t *m = metrics_config_to_json(&ctl->metrics);
		err = !m || json_object_set_new(o, "metrics", m) < 0;
	}
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *ctl_vm_config(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = vm_config_locked(ctl);
	pthread_mutex_unlock(&ctl->lock);
	return o;
}
