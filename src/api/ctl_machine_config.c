/* PUT, PATCH and GET /machine-config: vCPUs, memory, SMT, dirty page tracking, huge pages,
 * the CPU template, the machine's UUID, its SMBIOS serial and what a guest reset does (petrel's) (pre-boot). See controller.h. */
#include "api/core.h"

#include <string.h>

int ctl_put_machine_config(struct controller *ctl, json_t *body, bool patch, char *err,
			   size_t errlen)
{
	if (!json_is_object(body))
		return error_set(err, errlen, -EINVAL, "machine-config: expected an object");
	json_t *doc = NULL;
	int r;
	if (patch) {
		/* PATCH: the fields given replace the current ones (null means "not given"). */
		size_t given = 0;
		const char *key;
		json_t *val;
		json_object_foreach(body, key, val)
			given += !json_is_null(val);
		if (!given)
			return error_set(err, errlen, -EINVAL,
					 "machine-config: empty PATCH request (give at "
					 "least one field to change)");
		pthread_mutex_lock(&ctl->lock);
		r = ctl_check_not_started(ctl, "the machine configuration", err, errlen);
		doc = r < 0 ? NULL : vm_machine_config_to_json(&ctl->cfg);
		pthread_mutex_unlock(&ctl->lock);
		if (r < 0)
			return r;
		if (!doc)
			return error_oom(err, errlen);
		json_object_foreach(body, key, val) {
			if (!json_is_null(val) && json_object_set(doc, key, val) < 0) {
				json_decref(doc);
				return error_oom(err, errlen);
			}
		}
	} else {
		doc = json_incref(body);
	}
	struct vm_config tmp;
	r = ctl_parse_section("machine-config", doc, &tmp, err, errlen);
	json_decref(doc);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the machine configuration", err, errlen);
	if (r == 0) {
		/* PUT: optional fields left out go back to their defaults (tmp holds them). */
		ctl->cfg.vcpus = tmp.vcpus;
		ctl->cfg.mem_mib = tmp.mem_mib;
		ctl->cfg.smt = tmp.smt;
		ctl->cfg.track_dirty_pages = tmp.track_dirty_pages;
		ctl->cfg.huge_pages = tmp.huge_pages;
		ctl->cfg.has_uuid = tmp.has_uuid;
		memcpy(ctl->cfg.uuid, tmp.uuid, sizeof(tmp.uuid));
		memcpy(ctl->cfg.smbios_serial, tmp.smbios_serial, sizeof(tmp.smbios_serial));
		ctl->cfg.no_reboot = tmp.no_reboot;
		ctl_take(&ctl->cfg.cpu_template, &tmp.cpu_template);
	}
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}

json_t *ctl_machine_config(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = vm_machine_config_to_json(&ctl->cfg);
	pthread_mutex_unlock(&ctl->lock);
	return o;
}
