/* Where the instance reports: the logger (PUT /logger), the metrics (PUT /metrics, the
 * counters a metrics line is made of, FlushMetrics) and the serial console's output
 * (PUT /serial). See controller.h. */
#include "api/ctl_internal.h"
#include "devices/virtio/blk.h"
#include "util/util.h"
#include "vm/vm.h"

#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small JSON helpers for the objects parsed here ---- */

static int check_fields(json_t *obj, const char *what, const char *const *allowed, char *err,
			size_t errlen)
{
	if (!json_is_object(obj))
		return fail(err, errlen, -EINVAL, "%s: expected an object", what);
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			ok |= !strcmp(*a, key);
		if (!ok)
			return fail(err, errlen, -EINVAL, "%s: unknown field", key);
	}
	return 0;
}

/* Optional string field: NULL when absent. Empty strings and embedded NULs are refused. */
static int opt_str(json_t *obj, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v || json_is_null(v)) /* Firecracker: null is "not given" */
		return 0;
	if (!json_is_string(v))
		return fail(err, errlen, -EINVAL, "%s: expected a string", key);
	if (json_string_length(v) == 0)
		return fail(err, errlen, -EINVAL, "%s: must not be empty", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return fail(err, errlen, -EINVAL, "%s: contains a NUL character", key);
	*out = json_string_value(v);
	return 0;
}

static int opt_bool(json_t *obj, const char *key, bool dflt, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, key);
	*out = dflt;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return fail(err, errlen, -EINVAL, "%s: expected a boolean", key);
	*out = json_is_true(v);
	return 0;
}

const char *ctl_level_name(enum log_level l)
{
	switch (l) {
	case LOG_OFF: return "Off";
	case LOG_ERROR: return "Error";
	case LOG_WARN: return "Warning";
	case LOG_INFO: return "Info";
	case LOG_DEBUG: return "Debug";
	default: return "Trace";
	}
}

static int dup_opt(char **dst, const char *src)
{
	char *s = src ? strdup(src) : NULL;
	if (src && !s)
		return -ENOMEM;
	free(*dst);
	*dst = s;
	return 0;
}

int ctl_put_logger(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "log_path", "level", "show_level", "show_log_origin",
					    "module", NULL };
	const char *path, *level_s, *module;
	bool show_level, show_origin;
	enum log_level level = LOG_INFO;   /* the spec's default */
	int r;
	if ((r = check_fields(body, "logger", keys, err, errlen)) < 0 ||
	    (r = opt_str(body, "log_path", &path, err, errlen)) < 0 ||
	    (r = opt_str(body, "level", &level_s, err, errlen)) < 0 ||
	    (r = opt_str(body, "module", &module, err, errlen)) < 0 ||
	    (r = opt_bool(body, "show_level", false, &show_level, err, errlen)) < 0 ||
	    (r = opt_bool(body, "show_log_origin", false, &show_origin, err, errlen)) < 0)
		return r;
	if (level_s && log_level_from_name(level_s, &level) < 0)
		return fail(err, errlen, -EINVAL, "level: expected one of Error, Warning, Info, Debug, "
			    "Trace, Off (any case), not '%s'", level_s);
	if (ctl->dry_run)
		return path ? fail(err, errlen, -EINVAL, "log_path: no host files in a dry run") : 0;
	pthread_mutex_lock(&ctl->lock);
	/* Firecracker: the logger is pre-boot configuration. */
	if ((r = ctl_check_not_started(ctl, "the logger", err, errlen)) < 0) {
		pthread_mutex_unlock(&ctl->lock);
		return r;
	}
	if (path && (r = log_set_path(path)) < 0) {
		pthread_mutex_unlock(&ctl->lock);
		return fail(err, errlen, -EINVAL, "log_path: cannot open '%s': %s", path, strerror(-r));
	}
	log_set_level(level);
	log_set_format(show_level, show_origin);
	log_set_module(module);
	struct logger_settings *l = &ctl->logger;
	if (path)
		r = dup_opt(&l->log_path, path);
	if (r == 0)
		r = dup_opt(&l->module, module);
	l->level = level;
	l->show_level = show_level;
	l->show_log_origin = show_origin;
	l->configured = true;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return oom(err, errlen);
	log_info("logger configured: level %s%s%s", ctl_level_name(level), path ? ", to " : "",
		 path ? path : "");
	return 0;
}

int ctl_put_metrics(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "metrics_path", "emit_id", "properties", NULL };
	const char *path;
	bool emit_id;
	int r;
	if ((r = check_fields(body, "metrics", keys, err, errlen)) < 0 ||
	    (r = opt_str(body, "metrics_path", &path, err, errlen)) < 0 ||
	    (r = opt_bool(body, "emit_id", false, &emit_id, err, errlen)) < 0)
		return r;
	if (!path)
		return fail(err, errlen, -EINVAL, "metrics_path: missing required field");
	json_t *props = json_object_get(body, "properties");
	if (props && !json_is_null(props)) {
		if (!json_is_object(props))
			return fail(err, errlen, -EINVAL, "properties: expected an object");
		const char *key;
		json_t *val;
		json_object_foreach(props, key, val) {
			if (!json_is_string(val))
				return fail(err, errlen, -EINVAL, "properties.%s: expected a string", key);
		}
	}
	if (ctl->dry_run)
		return fail(err, errlen, -EINVAL, "metrics_path: no host files in a dry run");
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "metrics", err, errlen); /* pre-boot only, as in Firecracker */
	if (r == 0)
		r = metrics_configure(&ctl->metrics, path, emit_id, props, err, errlen);
	if (r == 0) {
		ctl->next_flush_ns = now_ns() + METRICS_FLUSH_INTERVAL_NS;
		pthread_cond_broadcast(&ctl->cond);
	}
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	log_info("metrics go to %s", path);
	return 0;
}

int ctl_put_serial(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "serial_out_path", "rate_limiter", NULL };
	const char *path;
	int r;
	if ((r = check_fields(body, "serial", keys, err, errlen)) < 0 ||
	    (r = opt_str(body, "serial_out_path", &path, err, errlen)) < 0)
		return r;
	/* A TokenBucket for the output bandwidth (bytes): what exceeds it is dropped and counted in
	 * uart.rate_limiter_dropped_bytes, as in Firecracker. */
	struct token_bucket_config limit;
	json_t *rl = json_object_get(body, "rate_limiter");
	if ((r = token_bucket_config_from_json(rl ? rl : json_null(), "rate_limiter", &limit, err,
					       errlen)) < 0)
		return r;
	int fd = -1;
	if (path && ctl->dry_run)
		return fail(err, errlen, -EINVAL, "serial_out_path: no host files in a dry run");
	if (path) {
		struct stat st;
		int flags = O_CLOEXEC | O_NOCTTY;
		/* A named pipe is opened read-write so that opening it never waits for a reader. */
		if (stat(path, &st) == 0 && S_ISFIFO(st.st_mode))
			flags |= O_RDWR;
		else
			flags |= O_WRONLY | O_APPEND | O_CREAT;
		fd = open(path, flags, 0640);
		if (fd < 0)
			return fail(err, errlen, -EINVAL, "serial_out_path: cannot open '%s': %s", path,
				    strerror(errno));
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the serial console", err, errlen);
	if (r == 0 && (r = dup_opt(&ctl->serial_path, path)) < 0)
		r = oom(err, errlen);
	if (r == 0) {
		ctl->serial_limit = limit;
		if (ctl->serial_fd >= 0)
			close(ctl->serial_fd);
		ctl->serial_fd = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&ctl->lock);
	if (fd >= 0)
		close(fd);
	return r;
}

/* ---- metrics ---- */

/* Firecracker's names for enum api_counter: the group and the prefix of its two counters. */
enum { GET, PUT, PATCH };
static const char *const api_groups[] = { "get_api_requests", "put_api_requests",
					  "patch_api_requests" };
static const struct {
	int group;
	const char *name;
} api_counters[API_COUNTERS] = {
	[API_GET_INSTANCE_INFO] = { GET, "instance_info" },
	[API_GET_VMM_VERSION] = { GET, "vmm_version" },
	[API_GET_MACHINE_CFG] = { GET, "machine_cfg" },
	[API_GET_VM_CONFIG] = { GET, "vm_config" },
	[API_PUT_MACHINE_CFG] = { PUT, "machine_cfg" },
	[API_PUT_ACTIONS] = { PUT, "actions" },
	[API_PUT_BOOT_SOURCE] = { PUT, "boot_source" },
	[API_PUT_CPU_CFG] = { PUT, "cpu_cfg" },
	[API_PUT_LOGGER] = { PUT, "logger" },
	[API_PUT_METRICS] = { PUT, "metrics" },
	[API_PUT_SERIAL] = { PUT, "serial" },
	[API_PUT_DRIVE] = { PUT, "drive" },
	[API_PUT_NETWORK] = { PUT, "network" },
	[API_PUT_VSOCK] = { PUT, "vsock" },
	[API_PUT_ENTROPY] = { PUT, "entropy" },
	[API_PUT_SNAPSHOT] = { PUT, "snapshot" },
	[API_PUT_MIGRATION] = { PUT, "migration" },
	[API_GET_MIGRATION] = { GET, "migration" },
	[API_PUT_REPLICATION] = { PUT, "replication" },
	[API_GET_REPLICATION] = { GET, "replication" },
	[API_PATCH_MACHINE_CFG] = { PATCH, "machine_cfg" },
	[API_PATCH_VM] = { PATCH, "vm" },
	[API_PATCH_DRIVE] = { PATCH, "drive" },
	[API_PATCH_NETWORK] = { PATCH, "network" },
	[API_GET_MMDS] = { GET, "mmds" },
	[API_PUT_MMDS] = { PUT, "mmds" },
	[API_PATCH_MMDS] = { PATCH, "mmds" },
};

void ctl_count_request(struct controller *ctl, enum api_counter counter, bool failed)
{
	pthread_mutex_lock(&ctl->lock);
	ctl->api_requests[counter].count++;
	ctl->api_requests[counter].fails += failed;
	pthread_mutex_unlock(&ctl->lock);
}

/* {"get_api_requests": {"instance_info_count": N, "instance_info_fails": N, ...}, ...}: every
 * counter, zeros included, so that each metrics line has the same shape. */
static json_t *api_counters_locked(const struct controller *ctl)
{
	json_t *c = json_object();
	for (int i = 0; c && i < API_COUNTERS; i++) {
		const char *group = api_groups[api_counters[i].group];
		json_t *g = json_object_get(c, group);
		if (!g && json_object_set_new(c, group, g = json_object()) < 0)
			goto fail;
		char key[64];
		snprintf(key, sizeof(key), "%s_count", api_counters[i].name);
		if (json_object_set_new(g, key, json_integer((json_int_t)ctl->api_requests[i].count)) < 0)
			goto fail;
		snprintf(key, sizeof(key), "%s_fails", api_counters[i].name);
		if (json_object_set_new(g, key, json_integer((json_int_t)ctl->api_requests[i].fails)) < 0)
			goto fail;
	}
	return c;
fail:
	json_decref(c);
	return NULL;
}

static uint64_t load64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Cumulative counters; metrics_flush turns them into increments. Same shape before the VM
 * exists (zeros) and after. */
static json_t *counters_locked(struct controller *ctl)
{
	struct vm *vm = ctl->state >= INSTANCE_RUNNING ? ctl->vm : NULL;
	struct exit_stats st;
	memset(&st, 0, sizeof(st));
	if (vm)
		vm_exit_stats(vm, &st);

	json_t *c = api_counters_locked(ctl);
	json_t *uart = json_object(), *kbd = json_object(), *vcpu = json_object(),
	       *exits = json_object(), *emu = json_object();
	if (!c || !uart || !kbd || !vcpu || !exits || !emu)
		goto fail;
	json_object_set_new(uart, "tx_bytes", json_integer(vm ? (json_int_t)load64(&vm->serial.tx_bytes) : 0));
	json_object_set_new(uart, "rx_bytes", json_integer(vm ? (json_int_t)load64(&vm->serial.rx_bytes) : 0));
	/* Firecracker's name: output bytes the console did not take (dropped, never waited for) */
	json_object_set_new(uart, "missed_write_count",
			    json_integer(vm ? (json_int_t)load64(&vm->serial.tx_dropped) : 0));
	json_object_set_new(uart, "rate_limiter_dropped_bytes",
			    json_integer(vm ? (json_int_t)load64(&vm->serial.rl_dropped) : 0));
	json_object_set_new(kbd, "read_count", json_integer(vm ? (json_int_t)load64(&vm->i8042.read_count) : 0));
	json_object_set_new(kbd, "write_count", json_integer(vm ? (json_int_t)load64(&vm->i8042.write_count) : 0));
	json_object_set_new(kbd, "reset_count", json_integer(vm ? (json_int_t)load64(&vm->i8042.reset_count) : 0));
	json_object_set_new(kbd, "ctrl_alt_del_count",
			    json_integer(vm ? (json_int_t)load64(&vm->i8042.ctrl_alt_del_count) : 0));
	/* Firecracker's names for the exits it counts per vCPU... */
	json_object_set_new(vcpu, "exit_io_in", json_integer((json_int_t)st.count[EXIT_IO_IN]));
	json_object_set_new(vcpu, "exit_io_out", json_integer((json_int_t)st.count[EXIT_IO_OUT]));
	json_object_set_new(vcpu, "exit_mmio_read", json_integer((json_int_t)st.count[EXIT_MMIO_READ]));
	json_object_set_new(vcpu, "exit_mmio_write", json_integer((json_int_t)st.count[EXIT_MMIO_WRITE]));
	json_object_set_new(vcpu, "kvm_run_us", json_integer((json_int_t)(st.run_ns / 1000)));
	/* ...and petrel's full exit statistics: count and handling time by reason. */
	for (int k = 0; k < EXIT_KIND_COUNT; k++) {
		json_t *e = json_pack("{s:I, s:I}", "count", (json_int_t)st.count[k], "handle_us",
				      (json_int_t)(st.handle_ns[k] / 1000));
		if (!e || json_object_set_new(exits, exit_kind_name((enum exit_kind)k), e) < 0)
			goto fail;
	}
	for (int i = 0; i < EMU_STAT_MAX && st.emu_name[i]; i++)
		json_object_set_new(emu, st.emu_name[i], json_integer((json_int_t)st.emu_count[i]));
	/* Block devices: all drives summed ("block") and one group per drive, as Firecracker. */
	json_t *blk = json_pack("{s:I, s:I, s:I, s:I, s:I}", "read_count", (json_int_t)0, "write_count",
				(json_int_t)0, "flush_count", (json_int_t)0, "io_errors", (json_int_t)0,
				"rate_limiter_throttled_events", (json_int_t)0);
	if (!blk)
		goto fail;
	for (unsigned i = 0; vm && i < vm->devs.nblk && i < ctl->cfg.ndrives; i++) {
		const struct virtio_blk *b = vm->devs.blk[i];
		json_int_t v[5] = { (json_int_t)load64(&b->reads), (json_int_t)load64(&b->writes),
				    (json_int_t)load64(&b->flushes), (json_int_t)load64(&b->errors),
				    (json_int_t)load64(&b->rl.throttled) };
		static const char *const names[5] = { "read_count", "write_count", "flush_count",
						      "io_errors", "rate_limiter_throttled_events" };
		json_t *one = json_object();
		for (int k = 0; one && k < 5; k++) {
			json_object_set_new(one, names[k], json_integer(v[k]));
			json_object_set_new(blk, names[k],
					    json_integer(json_integer_value(json_object_get(blk, names[k])) + v[k]));
		}
		char key[80];
		snprintf(key, sizeof(key), "block_%s", ctl->cfg.drives[i].drive_id);
		if (one)
			json_object_set_new(c, key, one);
	}
	json_object_set_new(c, "block", blk);
	json_object_set_new(c, "entropy", json_pack("{s:I}", "entropy_bytes",
			    (json_int_t)(vm && vm->devs.rng ? load64(&vm->devs.rng->bytes) : 0)));
	json_object_set_new(c, "uart", uart);
	json_object_set_new(c, "i8042", kbd);
	json_object_set_new(c, "vcpu", vcpu);
	json_object_set_new(c, "exits", exits);
	json_object_set_new(c, "emulated_instructions", emu);
	json_object_set_new(c, "boot_timer", json_pack("{s:I}", "reports",
				(json_int_t)load64(&ctl->boot_timer.reports)));
	json_object_set_new(c, "mmds", ctl_mmds_metrics_locked(ctl));
	json_object_set_new(c, "deprecated_api", json_pack("{s:I}", "deprecated_http_api_calls",
				(json_int_t)load64(&ctl->deprecated_api_calls)));
	return c;
fail:
	json_decref(c);
	json_decref(uart);
	json_decref(kbd);
	json_decref(vcpu);
	json_decref(exits);
	json_decref(emu);
	return NULL;
}

int ctl_metrics_flush_locked(struct controller *ctl)
{
	json_t *c = counters_locked(ctl);
	int r = c ? metrics_flush(&ctl->metrics, c, ctl->id) : -ENOMEM;
	json_decref(c);
	return r;
}

int ctl_flush_metrics(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = 0;
	/* As Firecracker: a pre-boot action refused before the start; nothing to do (204) when no
	 * metrics are configured. */
	if (ctl->state == INSTANCE_NOT_STARTED) {
		r = fail(err, errlen, -EINVAL, "The requested operation is not supported before starting the "
			 "microVM.");
	} else if (metrics_configured(&ctl->metrics)) {
		r = ctl_metrics_flush_locked(ctl);
		if (r == -ENOMEM)
			oom(err, errlen);
		else if (r < 0)
			r = fail(err, errlen, -EIO, "cannot write metrics to %s: %s", ctl->metrics.path,
				 r == -EAGAIN ? "the pipe is full" : strerror(-r));
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

json_t *ctl_metrics_counters(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *c = counters_locked(ctl);
	pthread_mutex_unlock(&ctl->lock);
	return c;
}
