/* vCPU hot-plug requests (petrel's /hotplug/vcpu, in the shape of Firecracker's
 * /hotplug/memory): PUT {"max_vcpu_count"} before the start, PATCH {"vcpu_count"} after it,
 * GET at any time once configured. See controller.h, vm/vcpu_hotplug.h and
 * docs/user-guide.md. */
#include "api/core.h"
#include "util/event_monitor.h"
#include "config/hotplug_vcpu_config.h"
#include "vm/vcpu_hotplug.h"
#include "vm/vm.h"

#include <string.h>

#define NOT_CONFIGURED "vCPU hot-plug is not configured (PUT /hotplug/vcpu before starting the microVM)."

/* max_vcpu_count of the running VM (with hot-plug). */
static unsigned max_cpus(struct vm *vm)
{
	struct vcpu_hotplug_stats hs;
	vcpu_hotplug_stats(vm, &hs);
	return hs.max_cpus;
}

int ctl_put_hotplug_vcpu(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct hotplug_vcpu_config c;
	int r = hotplug_vcpu_config_from_json(body, NULL, &c, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "vCPU hot-plug", err, errlen);
	/* machine-config may still change: InstanceStart checks the two again */
	if (r == 0 && c.max_vcpu_count < ctl->cfg.vcpus)
		r = error_set(err, errlen, -EINVAL,
			      "Invalid max_vcpu_count %u: it must be at least the microVM's vcpu_count (%u).",
			      c.max_vcpu_count, ctl->cfg.vcpus);
	if (r == 0) {
		ctl->cfg.vcpu_hotplug = c;
		ctl->cfg.has_vcpu_hotplug = true;
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_patch_hotplug_vcpu(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	unsigned want;
	int r = hotplug_vcpu_update_from_json(body, &want, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	if (!started(ctl))
		r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	else if (!ctl->cfg.has_vcpu_hotplug || !ctl->vm || !vcpu_hotplug_on(ctl->vm))
		r = error_set(err, errlen, -EINVAL, NOT_CONFIGURED);
	/* the state may be on its way already (after the switch-over, and all through post-copy):
	 * a change here would be lost with the source */
	else if (ctl_migration_active(ctl))
		r = error_set(err, errlen, -EBUSY, "a live migration is in progress (GET /migration)");
	else if (want > max_cpus(ctl->vm))
		r = error_set(err, errlen, -EINVAL,
			      "Invalid vcpu_count %u: it must be between 1 and max_vcpu_count (%u).", want,
			      max_cpus(ctl->vm));
	else
		r = vcpu_hotplug_set(ctl->vm, want, err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	if (r == 0)
		event_emit("device", "hotplug", "{s:s,s:i}", "device", "vcpu", "vcpu_count", (int)want);
	return r;
}

int ctl_get_hotplug_vcpu(struct controller *ctl, json_t **out, char *err, size_t errlen)
{
	int r = 0;
	*out = NULL;
	pthread_mutex_lock(&ctl->lock);
	if (!ctl->cfg.has_vcpu_hotplug) {
		r = error_set(err, errlen, -EINVAL, NOT_CONFIGURED);
	} else {
		/* Before the start: the boot vCPUs, all plugged. */
		unsigned present = ctl->cfg.vcpus, target = ctl->cfg.vcpus, max = ctl->cfg.vcpu_hotplug.max_vcpu_count;
		if (started(ctl) && ctl->vm && vcpu_hotplug_on(ctl->vm)) {
			vcpu_hotplug_counts(ctl->vm, &present, &target);
			max = max_cpus(ctl->vm);
		}
		*out = json_pack("{s:i,s:i,s:i}", "max_vcpu_count", (int)max, "vcpu_count", (int)target,
				 "plugged_vcpu_count", (int)present);
		if (!*out)
			r = error_oom(err, errlen);
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

static json_t *metrics_group_locked(struct controller *ctl)
{
	struct vcpu_hotplug_stats hs = { 0 };
	unsigned present = 0, target = 0;
	if (ctl->vm && vcpu_hotplug_on(ctl->vm)) {
		vcpu_hotplug_stats(ctl->vm, &hs);
		vcpu_hotplug_counts(ctl->vm, &present, &target);
	}
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "add_count", (json_int_t)hs.added,
			 "remove_request_count", (json_int_t)hs.remove_requests,
			 "eject_count", (json_int_t)hs.ejected, "last_add_us", (json_int_t)(hs.last_add_ns / 1000),
			 "plugged_vcpus", (json_int_t)present, "requested_vcpus", (json_int_t)target);
}

int ctl_hotplug_vcpu_metrics_locked(struct controller *ctl, json_t *out)
{
	return json_object_set_new(out, "vcpu_hotplug", metrics_group_locked(ctl));
}
