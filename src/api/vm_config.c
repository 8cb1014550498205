/* The whole definition: the --config-file document that sets the resources section by section
 * (through the same functions as their PUTs) and GET /vm/config that describes them. Above the
 * resource files (it calls them, as routes.c does); nothing below calls it. See controller.h. */
#include "api/core.h"

#include <string.h>

static int prefixed(int r, const char *prefix, char *err, size_t errlen)
{
	if (r < 0 && err && errlen) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err);
		/* Messages from the shared parsers already start with the section name. */
		if (strncmp(msg, prefix, strlen(prefix)) != 0)
			r = error_set(err, errlen, r, "%s: %s", prefix, msg);
	}
	return r;
}

static int load_device_array(struct controller *ctl, const char *section, const char *id_key,
			     json_t *arr, char *err, size_t errlen)
{
	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "%s: expected an array", section);
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		char where[64];
		snprintf(where, sizeof(where), "%s[%zu]", section, i);
		json_t *id = json_is_object(el) ? json_object_get(el, id_key) : NULL;
		if (!json_is_string(id))
			return error_set(err, errlen, -EINVAL, "%s.%s: missing or not a string", where, id_key);
		const char *v = json_string_value(id);
		int r = !strcmp(section, "fs") ? ctl_put_fs(ctl, v, el, err, errlen)
			: !strcmp(section, "console-ports") ? ctl_put_console_port(ctl, v, el, err, errlen)
			: id_key[0] == 'd'    ? ctl_put_drive(ctl, v, el, err, errlen)
					      : ctl_put_net(ctl, v, el, err, errlen);
		if (r < 0)
			return prefixed(r, where, err, errlen);
	}
	return 0;
}

/* petrel's "cpu-affinity" (host placement, not a Firecracker resource: no endpoint; the CLI
 * makes it the process's before any VM thread starts). */
static int load_cpu_affinity(struct controller *ctl, json_t *v, char *err, size_t errlen)
{
	struct cpu_affinity *a = malloc(sizeof(*a));
	int r = a ? cpu_affinity_from_json(v, "cpu-affinity", a, err, errlen) : error_oom(err, errlen);
	if (r < 0) {
		free(a);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	free(ctl->cfg.cpu_affinity);
	ctl->cfg.cpu_affinity = a;
	pthread_mutex_unlock(&ctl->lock);
	return 0;
}

int ctl_load_config(struct controller *ctl, const char *json, char *err, size_t errlen)
{
	/* The order Firecracker applies them in: logging first, so the rest is logged there. */
	static const char *const order[] = { "logger", "metrics", "boot-source", "machine-config",
					     "cpu-config", "drives", "pmem", "network-interfaces", "vsock",
					     "entropy", "balloon", "mmds-config", "memory-hotplug",
					     "cpu-affinity", "vcpu-hotplug", "fs", "display",
					     "console-ports", "guest-agent", NULL };
	static const char *const later[] = { NULL };
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, errlen, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
			    jerr.column, jerr.text);
	int r = 0;
	if (!json_is_object(root))
		r = error_set(err, errlen, -EINVAL, "expected a JSON object at the top level");
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		if (r < 0)
			break;
		bool known = false;
		for (const char *const *k = order; *k; k++)
			known |= !strcmp(*k, key);
		for (const char *const *k = later; !known && *k; k++) {
			if (strcmp(*k, key) != 0)
				continue;
			known = true;
			if (!json_is_null(val) && !(json_is_array(val) && !json_array_size(val)))
				r = error_set(err, errlen, -EINVAL, "%s: not supported yet", key);
		}
		if (!known)
			r = error_set(err, errlen, -EINVAL, "unknown field '%s'", key);
	}
	for (const char *const *k = order; r == 0 && *k; k++) {
		json_t *v = json_object_get(root, *k);
		if (!v || (json_is_null(v) && strcmp(*k, "boot-source") && strcmp(*k, "machine-config")))
			continue;
		if (!strcmp(*k, "drives"))
			r = load_device_array(ctl, "drives", "drive_id", v, err, errlen);
		else if (!strcmp(*k, "network-interfaces"))
			r = load_device_array(ctl, "network-interfaces", "iface_id", v, err, errlen);
		else if (!strcmp(*k, "pmem"))
			r = ctl_load_pmem(ctl, v, err, errlen);
		else if (!strcmp(*k, "fs"))
			r = load_device_array(ctl, "fs", "id", v, err, errlen);
		else if (!strcmp(*k, "console-ports"))
			r = load_device_array(ctl, "console-ports", "port_id", v, err, errlen);
		else if (!strcmp(*k, "guest-agent"))
			r = prefixed(ctl_put_guest_agent(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "boot-source"))
			r = ctl_put_boot_source(ctl, v, err, errlen);
		else if (!strcmp(*k, "machine-config"))
			r = prefixed(ctl_put_machine_config(ctl, v, false, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "cpu-config"))
			r = ctl_put_cpu_config(ctl, v, err, errlen);
		else if (!strcmp(*k, "vsock"))
			r = prefixed(ctl_put_vsock(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "entropy"))
			r = prefixed(ctl_put_entropy(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "balloon"))
			r = prefixed(ctl_put_balloon(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "memory-hotplug"))
			r = prefixed(ctl_put_hotplug_memory(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "vcpu-hotplug"))
			r = prefixed(ctl_put_hotplug_vcpu(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "display"))
			r = prefixed(ctl_put_display(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "cpu-affinity"))
			r = load_cpu_affinity(ctl, v, err, errlen);
		else if (!strcmp(*k, "mmds-config"))
			r = ctl_put_mmds_config(ctl, v, err, errlen);   /* its messages name the section */
		else if (!strcmp(*k, "logger"))
			r = prefixed(ctl_put_logger(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "metrics"))
			r = prefixed(ctl_put_metrics(ctl, v, err, errlen), *k, err, errlen);
	}
	json_decref(root);
	return r;
}

/* ---- GET /vm/config ---- */

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
