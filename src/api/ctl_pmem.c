/* virtio-pmem's requests (Firecracker's API, docs/pmem.md): PUT /pmem/{id} before the start,
 * PATCH /pmem/{id} (a new rate limiter) after it, the "pmem" section of a config file, and the
 * pmem metrics groups. See controller.h. */
#include "vm/device_params.h"
#include "api/core.h"
#include "config/pmem_config.h"
#include "devices/virtio/pmem.h"
#include "vm/vm.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>


int ctl_put_pmem(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct pmem_config p;
	int r = pmem_config_from_json(body, NULL, &p, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = ctl_check_path_id("id", p.id, id, err, errlen)) < 0) {
		pmem_config_free(&p);
		return r;
	}
	/* After the start the answer is that, whatever the file (Firecracker's order). */
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "pmem devices", err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		pmem_config_free(&p);
		return r;
	}
	/* The file as the device will open it (a FIFO never blocks us, an empty file is refused),
	 * so a mistake is reported here rather than at InstanceStart. */
	if (!ctl->dry_run) {
		uint64_t size;
		int fd = pmem_open_file(vm_pmem_params(&p, &(struct virtio_pmem_params){ 0 }), &size, err, errlen);
		if (fd < 0) {
			pmem_config_free(&p);
			return -EINVAL;
		}
		close(fd);
	}
	pthread_mutex_lock(&ctl->lock);
	struct vm_config *cfg = &ctl->cfg;
	r = ctl_check_not_started(ctl, "pmem devices", err, errlen);
	int found = -1;
	for (unsigned i = 0; r == 0 && i < cfg->npmem; i++) {
		if (!strcmp(cfg->pmem[i].id, p.id))
			found = (int)i;
		else if (p.root_device && cfg->pmem[i].root_device)
			r = error_set(err, errlen, -EINVAL,
				      "pmem device '%s' cannot be the root device: '%s' already is", p.id,
				      cfg->pmem[i].id);
	}
	for (unsigned i = 0; r == 0 && p.root_device && i < cfg->ndrives; i++)
		if (cfg->drives[i].is_root_device)
			r = error_set(err, errlen, -EINVAL,
				      "pmem device '%s' cannot be the root device: drive '%s' already is",
				      p.id, cfg->drives[i].drive_id);
	if (r == 0 && found >= 0) {
		/* PUT on an existing id replaces that device in place (keeping its /dev/pmemN). */
		pmem_config_free(&cfg->pmem[found]);
		cfg->pmem[found] = p;
		memset(&p, 0, sizeof(p));
	} else if (r == 0) {
		char msg[256];
		if ((r = vm_config_add_pmem(cfg, &p, msg, sizeof(msg))) < 0)
			r = error_set(err, errlen, -EINVAL, "%s", msg);
	}
	pthread_mutex_unlock(&ctl->lock);
	pmem_config_free(&p);
	return r;
}

int ctl_patch_pmem(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	char *body_id;
	struct rate_limiter_config rl;
	int r = pmem_update_from_json(body, &body_id, &rl, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = ctl_check_path_id("id", body_id, id, err, errlen);
	free(body_id);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	int found = -1;
	for (unsigned i = 0; i < ctl->cfg.npmem; i++)
		if (!strcmp(ctl->cfg.pmem[i].id, id))
			found = (int)i;
	if (!started(ctl))
		r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	else if (found < 0 || !ctl->vm || !vm_pmem(ctl->vm, (unsigned)found))
		r = error_set(err, errlen, -EINVAL, "No pmem device with id '%s'.", id);
	else if (rl.present && (r = virtio_pmem_update_limiter(vm_pmem(ctl->vm, (unsigned)found), &rl)) < 0)
		r = error_set(err, errlen, r, "pmem '%s': cannot update the rate limiter: %s", id,
			      strerror(-r));
	else if (rl.present)
		rate_limiter_config_patch(&ctl->cfg.pmem[found].rate_limiter, &rl);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_load_pmem(struct controller *ctl, json_t *arr, char *err, size_t errlen)
{
	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return error_set(err, errlen, -EINVAL, "pmem: expected an array");
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		json_t *id = json_is_object(el) ? json_object_get(el, "id") : NULL;
		if (!json_is_string(id))
			return error_set(err, errlen, -EINVAL, "pmem[%zu].id: missing or not a string", i);
		int r = ctl_put_pmem(ctl, json_string_value(id), el, err, errlen);
		if (r < 0) {
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", err);
			return error_set(err, errlen, r, "pmem[%zu]: %s", i, msg);
		}
	}
	return 0;
}

/* Firecracker's PmemMetrics fields, then petrel's. */
static const char *const names[] = {
	"activate_fails", "cfg_fails", "event_fails", "queue_event_count", "rate_limiter_event_count",
	"rate_limiter_throttled_events", "activate_count", "flush_count", "flush_fails", "bad_requests",
};

static void values(const struct pmem_counters *c, uint64_t v[10])
{
	const uint64_t f[10] = { c->activate_fails, c->cfg_fails, c->event_fails, c->queue_event_count,
				 c->rate_limiter_event_count, c->rate_limiter_throttled_events, c->activate_count,
				 c->flush_count, c->flush_fails, c->bad_requests };
	memcpy(v, f, sizeof(f));
}

int ctl_pmem_metrics_locked(struct controller *ctl, json_t *out)
{
	struct vm *vm = ctl->state >= INSTANCE_RUNNING ? ctl->vm : NULL;
	uint64_t sum[10] = { 0 };
	struct virtio_pmem *pm;
	for (unsigned i = 0; vm && (pm = vm_pmem(vm, i)); i++) {
		struct pmem_counters c;
		uint64_t v[10];
		virtio_pmem_stats(pm, NULL, &c);
		values(&c, v);
		json_t *g = json_object();
		for (unsigned k = 0; g && k < ARRAY_SIZE(names); k++) {
			json_object_set_new(g, names[k], json_integer((json_int_t)v[k]));
			sum[k] += v[k];
		}
		char key[16 + DEVICES_ID_MAX];
		snprintf(key, sizeof(key), "pmem_%s", pm->id);
		if (!g || json_object_set_new(out, key, g) < 0)
			return -ENOMEM;
	}
	json_t *all = json_object();
	for (unsigned k = 0; all && k < ARRAY_SIZE(names); k++)
		json_object_set_new(all, names[k], json_integer((json_int_t)sum[k]));
	return !all || json_object_set_new(out, "pmem", all) < 0 ? -ENOMEM : 0;
}
