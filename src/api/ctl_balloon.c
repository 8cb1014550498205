/* The balloon's requests (Firecracker's API, docs/balloon.md): PUT /balloon before the start,
 * PATCH /balloon, PATCH /balloon/statistics and /balloon/hinting/... after it, GET /balloon
 * and GET /balloon/statistics. See controller.h. */
#include "api/core.h"
#include "config/balloon_config.h"
#include "devices/virtio/balloon.h"
#include "util/json_util.h"
#include "vm/vm.h"

#include <string.h>

#define NO_BALLOON "No balloon device found."
/* Firecracker's words for the hinting requests' failures (VmmActionError::BalloonUpdate). */
#define HINT_NO_DEVICE "Balloon update error: Failed perform action on device: Device not found"
#define HINT_NOT_ENABLED "Balloon update error: Balloon: Attempting to use hinting when not enabled"
#define HINT_NOT_ACTIVE "Balloon update error: Balloon: Device not activated yet."

static int too_large(const struct controller *ctl, uint32_t mib, char *err, size_t errlen)
{
	if (mib <= ctl->cfg.mem_mib)
		return 0;
	return error_set(err, errlen, -EINVAL,
			 "Amount of pages requested is too large: amount_mib %u is more than "
			 "the guest's %llu MiB of memory.",
			 mib, (unsigned long long)ctl->cfg.mem_mib);
}

/* The running device (lock held), or NULL with err set. */
static struct virtio_balloon *running_balloon(struct controller *ctl, int *r, char *err, size_t errlen)
{
	*r = 0;
	if (!started(ctl))
		*r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	else if (!ctl->cfg.has_balloon || !ctl->vm || !vm_balloon(ctl->vm))
		*r = error_set(err, errlen, -EINVAL, NO_BALLOON);
	return *r ? NULL : vm_balloon(ctl->vm);
}

int ctl_put_balloon(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct balloon_config b;
	int r = balloon_config_from_json(body, NULL, &b, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the balloon device", err, errlen);
	if (r == 0)
		r = too_large(ctl, b.amount_mib, err, errlen);
	if (r == 0) {
		ctl->cfg.balloon = b;
		ctl->cfg.has_balloon = true;
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_patch_balloon(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	uint32_t mib;
	int r = balloon_update_from_json(body, &mib, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	struct virtio_balloon *b = running_balloon(ctl, &r, err, errlen);
	if (b && (r = too_large(ctl, mib, err, errlen)) == 0) {
		virtio_balloon_set_target_mib(b, mib);
		ctl->cfg.balloon.amount_mib = mib;
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_patch_balloon_stats(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	uint32_t s;
	int r = balloon_stats_update_from_json(body, &s, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	struct virtio_balloon *b = running_balloon(ctl, &r, err, errlen);
	if (b && (!s != !ctl->cfg.balloon.stats_polling_interval_s))
		r = error_set(err, errlen, -EINVAL,
			      "Cannot enable or disable the statistics after boot: "
			      "stats_polling_interval_s must stay %s.",
			      s ? "0" : "above 0");
	else if (b && virtio_balloon_set_stats_interval(b, s) < 0)
		r = error_set(err, errlen, -EINVAL, "Statistics for the balloon device are not enabled.");
	else if (b)
		ctl->cfg.balloon.stats_polling_interval_s = s;
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_get_balloon(struct controller *ctl, json_t **out, char *err, size_t errlen)
{
	int r = 0;
	*out = NULL;
	pthread_mutex_lock(&ctl->lock);
	/* A running device's target and polling interval are the truth: a VM that came by
	 * migration or failover has the definition sent when the move began, and PATCHes on the
	 * source after it reached the device's state, not that definition. */
	if (ctl->cfg.has_balloon && started(ctl) && ctl->vm && vm_balloon(ctl->vm)) {
		struct balloon_state st;
		virtio_balloon_stats(vm_balloon(ctl->vm), &st, NULL);
		ctl->cfg.balloon.amount_mib = st.num_pages >> 8;
		ctl->cfg.balloon.stats_polling_interval_s = st.stats_polling_interval_s;
	}
	if (!ctl->cfg.has_balloon)
		r = error_set(err, errlen, -EINVAL, NO_BALLOON);
	else if (!(*out = balloon_config_to_json(&ctl->cfg.balloon)))
		r = error_oom(err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

json_t *ctl_balloon_stats_json(const struct balloon_state *st)
{
	uint64_t target = st->num_pages, actual = st->actual;
	json_t *o = json_pack("{s:I,s:I,s:I,s:I}", "target_pages", (json_int_t)target, "actual_pages",
			      (json_int_t)actual, "target_mib", (json_int_t)(target / BALLOON_PAGES_PER_MIB),
			      "actual_mib", (json_int_t)(actual / BALLOON_PAGES_PER_MIB));
	for (unsigned t = 0; o && t < BALLOON_S_NR; t++)
		if (st->stats_present & (1u << t))
			json_object_set_new(o, balloon_stat_names[t],
					    json_integer((json_int_t)(st->stats[t] > INT64_MAX ? INT64_MAX : st->stats[t])));
	return o;
}

int ctl_get_balloon_stats(struct controller *ctl, json_t **out, char *err, size_t errlen)
{
	int r;
	*out = NULL;
	pthread_mutex_lock(&ctl->lock);
	struct virtio_balloon *b = running_balloon(ctl, &r, err, errlen);
	if (b && !ctl->cfg.balloon.stats_polling_interval_s)
		r = error_set(err, errlen, -EINVAL, "Statistics for the balloon device are not enabled.");
	else if (b) {
		struct balloon_state st;
		virtio_balloon_stats(b, &st, NULL);
		if (!(*out = ctl_balloon_stats_json(&st)))
			r = error_oom(err, errlen);
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

static json_t *metrics_group_locked(struct controller *ctl)
{
	struct balloon_counters c = { 0 };
	if (ctl->vm && vm_balloon(ctl->vm))
		virtio_balloon_stats(vm_balloon(ctl->vm), NULL, &c);
	json_t *o = json_object();
	const struct { const char *name; uint64_t v; } f[] = {
		{ "activate_fails", 0 },
		{ "inflate_count", c.inflate_count },
		{ "stats_updates_count", c.stats_updates },
		{ "stats_update_fails", c.stats_invalid },
		{ "deflate_count", c.deflate_count },
		{ "event_fails", 0 },
		{ "free_page_report_count", c.free_page_report_count },
		{ "free_page_report_freed", c.reported_bytes },
		{ "free_page_report_fails", 0 },
		{ "free_page_hint_count", c.hint_count },
		{ "free_page_hint_freed", c.hint_bytes },
		{ "free_page_hint_fails", c.hint_fails },
		/* petrel's */
		{ "pages_released", c.pages_released },
		{ "pages_refused", c.pages_refused },
		{ "pfns_ignored", c.pfns_ignored },
		{ "madvise_fails", c.madvise_failures },
		{ "free_page_hint_ignored", c.hint_ignored },
		{ "free_page_hint_invalid", c.hint_invalid },
	};
	for (unsigned i = 0; o && i < ARRAY_SIZE(f); i++)
		json_object_set_new(o, f[i].name, json_integer((json_int_t)f[i].v));
	return o;
}

/* The running device for a hinting request (lock held), or NULL with err set. */
static struct virtio_balloon *hint_device(struct controller *ctl, int *r, char *err, size_t errlen)
{
	*r = 0;
	if (!started(ctl))
		*r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	else if (!ctl->cfg.has_balloon || !ctl->vm || !vm_balloon(ctl->vm))
		*r = error_set(err, errlen, -EINVAL, HINT_NO_DEVICE);
	return *r ? NULL : vm_balloon(ctl->vm);
}

static int hint_result(int r, char *err, size_t errlen)
{
	if (r == -EOPNOTSUPP)
		return error_set(err, errlen, -EINVAL, HINT_NOT_ENABLED);
	if (r == -EAGAIN)
		return error_set(err, errlen, -EINVAL, HINT_NOT_ACTIVE);
	return r;
}

int ctl_balloon_hint_start(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	/* Firecracker's StartHintingCmd: no body or {} acknowledges on stop; other keys are
	 * ignored (it does not refuse unknown fields here). */
	bool ack = true;
	int r = 0;
	if (body && !json_is_object(body))
		return error_set(err, errlen, -EINVAL, "the request body must be a JSON object");
	if (body && (r = json_get_bool(body, NULL, "acknowledge_on_stop", false, &ack, err, errlen)) < 0)
		return -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	struct virtio_balloon *b = hint_device(ctl, &r, err, errlen);
	if (b)
		r = hint_result(virtio_balloon_hint_start(b, ack), err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_balloon_hint_stop(struct controller *ctl, char *err, size_t errlen)
{
	int r;
	pthread_mutex_lock(&ctl->lock);
	struct virtio_balloon *b = hint_device(ctl, &r, err, errlen);
	if (b)
		r = hint_result(virtio_balloon_hint_stop(b), err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_balloon_hint_status(struct controller *ctl, json_t **out, char *err, size_t errlen)
{
	int r;
	*out = NULL;
	pthread_mutex_lock(&ctl->lock);
	struct virtio_balloon *b = hint_device(ctl, &r, err, errlen);
	uint32_t host, guest;
	bool has_guest;
	if (b)
		r = hint_result(virtio_balloon_hint_status(b, &host, &has_guest, &guest), err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r;
	/* guest_cmd is null until the driver sent one, as Firecracker writes it */
	*out = json_pack("{s:I,s:o}", "host_cmd", (json_int_t)host, "guest_cmd",
			 has_guest ? json_integer((json_int_t)guest) : json_null());
	return *out ? 0 : error_oom(err, errlen);
}

int ctl_balloon_metrics_locked(struct controller *ctl, json_t *out)
{
	return json_object_set_new(out, "balloon", metrics_group_locked(ctl));
}
