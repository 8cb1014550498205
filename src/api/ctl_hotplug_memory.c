/* Memory hot-plug requests (Firecracker's /hotplug/memory, virtio-mem): PUT before the start,
 * PATCH {"requested_size_mib"} and GET after it; the
 * "memory_hotplug" metrics group. See controller.h and docs/user-guide.md. */
#include "api/core.h"
#include "util/event_monitor.h"
#include "config/hotplug_memory_config.h"
#include "devices/virtio/virtio_mem.h"
#include "vm/vm.h"

#include <string.h>

#define NO_DEVICE "No memory hotplug device found."

static uint32_t mib(uint64_t bytes)
{
	return (uint32_t)(bytes >> 20);
}

int ctl_put_hotplug_memory(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct hotplug_memory_config c;
	int r = hotplug_memory_config_from_json(body, NULL, &c, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the memory hotplug device", err, errlen);
	if (r == 0) {
		ctl->cfg.memory_hotplug = c;
		ctl->cfg.has_memory_hotplug = true;
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_patch_hotplug_memory(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	uint32_t want;
	int r = hotplug_memory_update_from_json(body, &want, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	const struct hotplug_memory_config *c = &ctl->cfg.memory_hotplug;
	if (!started(ctl))
		r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	else if (!ctl->cfg.has_memory_hotplug || !ctl->vm || !vm_virtio_mem(ctl->vm))
		r = error_set(err, errlen, -EINVAL, NO_DEVICE);
	else if (want % c->block_size_mib || want > c->total_size_mib)
		r = error_set(err, errlen, -EINVAL,
			      "Size %llu is invalid: it must be a multiple of block size and less "
			      "than the total size (requested_size_mib %u: block_size_mib %u, total_size_mib %u).",
			      (unsigned long long)want << 20, want, c->block_size_mib, c->total_size_mib);
	else if (virtio_mem_set_requested(vm_virtio_mem(ctl->vm), (uint64_t)want << 20) < 0)
		r = error_set(err, errlen, -EINVAL, "requested_size_mib %u does not fit the device", want);
	pthread_mutex_unlock(&ctl->lock);
	if (r == 0)
		event_emit("device", "hotplug", "{s:s,s:i}", "device", "memory", "requested_size_mib", (int)want);
	return r;
}

int ctl_get_hotplug_memory(struct controller *ctl, json_t **out, char *err, size_t errlen)
{
	int r = 0;
	*out = NULL;
	pthread_mutex_lock(&ctl->lock);
	/* As Firecracker: a status only a running microVM has (GET /vm/config shows the
	 * definition before the start). */
	if (!started(ctl)) {
		r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	} else if (!ctl->cfg.has_memory_hotplug) {
		r = error_set(err, errlen, -EINVAL, NO_DEVICE);
	} else {
		struct virtio_mem_state st = { 0 };
		if (ctl->vm && vm_virtio_mem(ctl->vm))
			virtio_mem_stats(vm_virtio_mem(ctl->vm), &st, NULL);
		const struct hotplug_memory_config *c = &ctl->cfg.memory_hotplug;
		*out = json_pack("{s:I,s:I,s:I,s:I,s:I}", "total_size_mib", (json_int_t)c->total_size_mib,
				 "slot_size_mib", (json_int_t)c->slot_size_mib, "block_size_mib",
				 (json_int_t)c->block_size_mib, "plugged_size_mib", (json_int_t)mib(st.plugged_size),
				 "requested_size_mib", (json_int_t)mib(st.requested_size));
		if (!*out)
			r = error_oom(err, errlen);
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

static json_t *latency(const struct virtio_mem_latency *l)
{
	return json_pack("{s:I,s:I,s:I}", "min_us", (json_int_t)l->min_us, "max_us", (json_int_t)l->max_us,
			 "sum_us", (json_int_t)l->sum_us);
}

static json_t *metrics_group_locked(struct controller *ctl)
{
	struct virtio_mem_counters c = { 0 };
	if (ctl->vm && vm_virtio_mem(ctl->vm))
		virtio_mem_stats(vm_virtio_mem(ctl->vm), NULL, &c);
	json_t *o = json_object();
	const struct { const char *name; uint64_t v; } f[] = {
		{ "activate_fails", 0 },
		{ "queue_event_fails", c.queue_event_fails },
		{ "queue_event_count", c.queue_event_count },
		{ "plug_count", c.plug_count },
		{ "plug_bytes", c.plug_bytes },
		{ "plug_fails", c.plug_fails },
		{ "unplug_count", c.unplug_count },
		{ "unplug_bytes", c.unplug_bytes },
		{ "unplug_fails", c.unplug_fails },
		{ "unplug_discard_fails", c.unplug_discard_fails },
		{ "unplug_all_count", c.unplug_all_count },
		{ "unplug_all_fails", c.unplug_all_fails },
		{ "state_count", c.state_count },
		{ "state_fails", c.state_fails },
		/* petrel's */
		{ "nack_count", c.nack_count },
		{ "busy_count", c.busy_count },
		{ "bad_requests", c.bad_requests },
	};
	for (unsigned i = 0; o && i < ARRAY_SIZE(f); i++)
		json_object_set_new(o, f[i].name, json_integer((json_int_t)f[i].v));
	if (o) {
		json_object_set_new(o, "plug_agg", latency(&c.plug_agg));
		json_object_set_new(o, "unplug_agg", latency(&c.unplug_agg));
		json_object_set_new(o, "unplug_all_agg", latency(&c.unplug_all_agg));
		json_object_set_new(o, "state_agg", latency(&c.state_agg));
	}
	return o;
}

int ctl_hotplug_memory_metrics_locked(struct controller *ctl, json_t *out)
{
	return json_object_set_new(out, "memory_hotplug", metrics_group_locked(ctl));
}
