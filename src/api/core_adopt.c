/* A VM that arrives from elsewhere: a snapshot load's, an incoming migration's or a standby's
 * overrides (network_overrides, vsock_override and petrel's drive_overrides), and taking a
 * fresh instance for it (ctl_adopt_begin/_abort). Shared by ctl_snapshot.c, ctl_migration.c
 * and ctl_replication.c. See core.h. */
#include "api/core.h"
#include "block/disk.h"
#include "util/json_util.h"
#include "vm/vm.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ctl_json_dup_str(json_t *o, const char *where, const char *key, bool required, char **out, char *err,
	       size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return required ? error_set(err, errlen, -EINVAL, "%s%s: missing required field", where, key) : 0;
	if (!json_is_string(v) || !json_string_length(v) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, errlen, -EINVAL, "%s%s: expected a non-empty string", where, key);
	*out = strdup(json_string_value(v));
	return *out ? 0 : error_oom(err, errlen);
}

void ctl_overrides_free(struct ctl_overrides *q)
{
	for (unsigned i = 0; i < q->nnet; i++) {
		free(q->net_iface[i]);
		free(q->net_dev[i]);
	}
	free(q->vsock_uds);
	for (unsigned i = 0; i < q->ndrive; i++) {
		free(q->drive_id[i]);
		free(q->drive_path[i]);
	}
	memset(q, 0, sizeof(*q));
}

void ctl_overrides_apply(const struct ctl_overrides *q, struct snapshot_load_opts *o)
{
	o->vsock_uds_path = q->vsock_uds;
	o->nnet = q->nnet;
	for (unsigned i = 0; i < q->nnet; i++)
		o->net[i] = (struct snapshot_net_override){ q->net_iface[i], q->net_dev[i] };
	o->ndrive = q->ndrive;
	for (unsigned i = 0; i < q->ndrive; i++)
		o->drive[i] = (struct snapshot_drive_override){ q->drive_id[i], q->drive_path[i],
								q->drive_format[i] >= 0, q->drive_format[i] };
}

int ctl_adopt_begin(struct controller *ctl, json_t *body, const char *what, struct ctl_overrides **ov,
		    struct vm **vm, struct snapshot_load_opts *load, int *console_fd, char *err, size_t errlen)
{
	int r = 0;
	if (ctl->state != INSTANCE_NOT_STARTED)
		return error_set(err, errlen, -EINVAL, "%s: only a microVM that was not started can take one", what);
	if (vm_config_has_boot_resources(&ctl->cfg))
		return error_set(err, errlen, -EINVAL, "%s: not allowed after configuring boot-specific resources "
				    "(the VM brings its own)", what);
	if (!(*ov = calloc(1, sizeof(**ov))) || !(*vm = vm_alloc())) {
		free(*ov);
		*ov = NULL;
		return error_oom(err, errlen);
	}
	if ((r = ctl_overrides_parse(body, *ov, err, errlen)) < 0) {
		ctl_adopt_abort(ctl, ov, vm);
		return r;
	}
	ctl_overrides_apply(*ov, load);
	*console_fd = ctl->serial_fd >= 0 ? ctl->serial_fd : STDOUT_FILENO;
	ctl->state = INSTANCE_STARTING;
	/* The definition that arrives goes straight into ctl->cfg: GET /vm/config describes the
	 * received VM. Nothing else writes it while the state is STARTING. */
	bool stats = ctl->cfg.stats;
	vm_config_free(&ctl->cfg);
	vm_config_init(&ctl->cfg);
	ctl->cfg.stats = stats;
	ctl->cfg.mmds_service = ctl_mmds_service_locked(ctl);   /* its store starts empty here */
	return 0;
}

void ctl_adopt_abort(struct controller *ctl, struct ctl_overrides **ov, struct vm **vm)
{
	if (*ov)
		ctl_overrides_free(*ov);
	free(*ov);
	*ov = NULL;
	vm_free(*vm);
	*vm = NULL;
	if (ctl->state == INSTANCE_STARTING)
		ctl->state = INSTANCE_NOT_STARTED;
}

int ctl_overrides_parse(json_t *b, struct ctl_overrides *q, char *err, size_t errlen)
{
	json_t *arr = json_object_get(b, "network_overrides");
	if (arr && !json_is_null(arr)) {
		if (!json_is_array(arr) || json_array_size(arr) > SNAP_MAX_NET_OVERRIDES)
			return error_set(err, errlen, -EINVAL, "network_overrides: expected an array of at most %d",
					    SNAP_MAX_NET_OVERRIDES);
		static const char *const keys[] = { "iface_id", "host_dev_name", NULL };
		size_t i;
		json_t *el;
		json_array_foreach(arr, i, el) {
			int r;
			if (!json_is_object(el))
				return error_set(err, errlen, -EINVAL, "network_overrides[%zu]: expected an object", i);
			if ((r = json_check_keys(el, "network_overrides[]", keys, err, errlen)) < 0 ||
			    (r = ctl_json_dup_str(el, "network_overrides[].", "iface_id", true, &q->net_iface[q->nnet], err, errlen)) < 0 ||
			    (r = ctl_json_dup_str(el, "network_overrides[].", "host_dev_name", true, &q->net_dev[q->nnet++], err, errlen)) < 0)
				return r;
		}
	}
	json_t *drv = json_object_get(b, "drive_overrides");
	if (drv && !json_is_null(drv)) {
		if (!json_is_array(drv) || json_array_size(drv) > SNAP_MAX_NET_OVERRIDES)
			return error_set(err, errlen, -EINVAL, "drive_overrides: expected an array of at most %d",
					    SNAP_MAX_NET_OVERRIDES);
		static const char *const keys[] = { "drive_id", "path_on_host", "format", NULL };
		size_t i;
		json_t *el;
		json_array_foreach(drv, i, el) {
			int r;
			char *fmt = NULL;
			if (!json_is_object(el))
				return error_set(err, errlen, -EINVAL, "drive_overrides[%zu]: expected an object", i);
			q->drive_format[q->ndrive] = -1;
			if ((r = json_check_keys(el, "drive_overrides[]", keys, err, errlen)) < 0 ||
			    (r = ctl_json_dup_str(el, "drive_overrides[].", "drive_id", true, &q->drive_id[q->ndrive], err, errlen)) < 0 ||
			    (r = ctl_json_dup_str(el, "drive_overrides[].", "path_on_host", true, &q->drive_path[q->ndrive++], err, errlen)) < 0 ||
			    (r = ctl_json_dup_str(el, "drive_overrides[].", "format", false, &fmt, err, errlen)) < 0)
				return r;
			/* petrel's: the new image's format (raw, qcow2, auto), else the drive's own */
			if (fmt) {
				int f = disk_format_parse(fmt);
				free(fmt);
				if (f < 0)
					return error_set(err, errlen, -EINVAL, "drive_overrides[].format: expected raw, qcow2 or auto");
				q->drive_format[q->ndrive - 1] = f;
			}
		}
	}
	json_t *vs = json_object_get(b, "vsock_override");
	if (vs && !json_is_null(vs)) {
		static const char *const keys[] = { "uds_path", NULL };
		int r;
		if (!json_is_object(vs))
			return error_set(err, errlen, -EINVAL, "vsock_override: expected an object");
		if ((r = json_check_keys(vs, "vsock_override", keys, err, errlen)) < 0 ||
		    (r = ctl_json_dup_str(vs, "vsock_override.", "uds_path", true, &q->vsock_uds, err, errlen)) < 0)
			return r;
	}
	return 0;
}
