/* The metrics resource: PUT /metrics (where the lines go), the counters a line is made of, in
 * Firecracker's groups (and petrel's own; a resource adds its own groups through its hook in
 * resources.c), and FlushMetrics. See controller.h and metrics.h (which turns cumulative
 * counters into the increments each line carries). */
#include "api/core.h"
#include "util/log.h"
#include "util/proc_metrics.h"
#include "util/stat.h"
#include "util/util.h"
#include "vm/vm.h"
#include "vm/vm_device.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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
	[API_PATCH_REPLICATION] = { PATCH, "replication" },
	[API_PATCH_MACHINE_CFG] = { PATCH, "machine_cfg" },
	[API_PATCH_VM] = { PATCH, "vm" },
	[API_PATCH_DRIVE] = { PATCH, "drive" },
	[API_PATCH_NETWORK] = { PATCH, "network" },
	[API_GET_MMDS] = { GET, "mmds" },
	[API_PUT_MMDS] = { PUT, "mmds" },
	[API_PATCH_MMDS] = { PATCH, "mmds" },
	[API_GET_BALLOON] = { GET, "balloon" },
	[API_PUT_BALLOON] = { PUT, "balloon" },
	[API_PATCH_BALLOON] = { PATCH, "balloon" },
	[API_GET_HOTPLUG_MEMORY] = { GET, "hotplug_memory" },
	[API_PUT_HOTPLUG_MEMORY] = { PUT, "hotplug_memory" },
	[API_PATCH_HOTPLUG_MEMORY] = { PATCH, "hotplug_memory" },
	[API_GET_HOTPLUG_VCPU] = { GET, "hotplug_vcpu" },
	[API_PUT_HOTPLUG_VCPU] = { PUT, "hotplug_vcpu" },
	[API_PATCH_HOTPLUG_VCPU] = { PATCH, "hotplug_vcpu" },
	[API_PUT_PMEM] = { PUT, "pmem" },
	[API_PATCH_PMEM] = { PATCH, "pmem" },
	[API_PUT_FS] = { PUT, "fs" },
	[API_PUT_DISPLAY] = { PUT, "display" },
	[API_GET_GUEST] = { GET, "guest" },
	[API_PUT_GUEST] = { PUT, "guest" },
	[API_PUT_CONSOLE_PORT] = { PUT, "console_ports" },
	[API_PUT_GUEST_AGENT] = { PUT, "guest_agent" },
};

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

/* n counters under their names. */
static json_t *counters_json(const struct dev_stats_ops *ops, const uint64_t *v)
{
	json_t *g = json_object();
	for (unsigned i = 0; g && i < ops->n; i++)
		json_object_set_new(g, ops->names[i], json_integer((json_int_t)v[i]));
	return g;
}

/* The devices' metrics group `group` (devices/dev_stats.h), walking the VM's devices as a
 * snapshot does: every kind that adds into it, in the kinds' order, each device's own group
 * ("block_ID") where its kind has them, then the group itself, their sum (zeros without a VM
 * or a device, so that each line has the same shape). The kinds of one group count the same
 * names in the same order (the interfaces: DEV_NET_COUNTER_NAMES). */
static void device_group(json_t *c, struct vm *vm, const char *group)
{
	const struct dev_stats_ops *shape = NULL;
	uint64_t sum[DEV_STATS_MAX] = { 0 };
	for (unsigned k = 0; k < DEV_KINDS; k++) {
		const struct dev_stats_ops *ops = vm_device_kind_stats((enum dev_kind)k);
		if (!ops || strcmp(ops->group, group))
			continue;
		shape = shape ? shape : ops;
		const struct vm_device *d;
		for (unsigned i = 0; vm && (d = vm_device_at(vm, i)); i++) {
			if (d->kind != (enum dev_kind)k)
				continue;
			uint64_t v[DEV_STATS_MAX];
			ops->read(d->dev, v);
			for (unsigned j = 0; j < ops->n; j++)
				sum[j] += v[j];
			char key[80];
			snprintf(key, sizeof(key), "%s_%s", group, d->id);
			if (ops->own_group)
				json_object_set_new(c, key, counters_json(ops, v));
		}
	}
	if (shape)
		json_object_set_new(c, group, counters_json(shape, sum));
}

static uint64_t clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void ctl_note_startup(struct controller *ctl, uint64_t start_us, uint64_t start_cpu_us,
		      uint64_t parent_cpu_us)
{
	uint64_t now = clock_us(CLOCK_MONOTONIC), cpu = clock_us(CLOCK_PROCESS_CPUTIME_ID);
	/* saturating: a launcher's clock reading from the future counts as 0 */
	uint64_t wall = start_us && now > start_us ? now - start_us : 0;
	cpu = (cpu > start_cpu_us ? cpu - start_cpu_us : 0) + parent_cpu_us;
	__atomic_store_n(&ctl->startup_us, wall, __ATOMIC_RELAXED);
	__atomic_store_n(&ctl->startup_cpu_us, cpu, __ATOMIC_RELAXED);
	log_info("API serving %llu us of CPU after exec%s", (unsigned long long)cpu,
		 parent_cpu_us ? " (with the launcher's)" : "");
}

/* Cumulative counters; metrics_flush turns them into increments. Same shape before the VM
 * exists (zeros) and after. */
static json_t *counters_locked(struct controller *ctl)
{
	struct vm *vm = ctl->state >= INSTANCE_RUNNING ? ctl->vm : NULL;
	struct exit_stats st;
	struct vm_legacy_metrics legacy = { 0 };
	memset(&st, 0, sizeof(st));
	if (vm) {
		vm_exit_stats(vm, &st);
		vm_legacy_metrics(vm, &legacy);
	}

	json_t *c = api_counters_locked(ctl);
	json_t *uart = json_object(), *kbd = json_object(), *vcpu = json_object(),
	       *exits = json_object(), *emu = json_object();
	if (!c || !uart || !kbd || !vcpu || !exits || !emu)
		goto fail;
	json_object_set_new(uart, "tx_bytes", json_integer((json_int_t)legacy.uart_tx_bytes));
	json_object_set_new(uart, "rx_bytes", json_integer((json_int_t)legacy.uart_rx_bytes));
	/* Firecracker's name: output bytes the console did not take (dropped, never waited for) */
	json_object_set_new(uart, "missed_write_count",
			    json_integer((json_int_t)legacy.uart_tx_dropped));
	json_object_set_new(uart, "rate_limiter_dropped_bytes",
			    json_integer((json_int_t)legacy.uart_rl_dropped));
	json_object_set_new(kbd, "read_count", json_integer((json_int_t)legacy.kbd_reads));
	json_object_set_new(kbd, "write_count", json_integer((json_int_t)legacy.kbd_writes));
	json_object_set_new(kbd, "reset_count", json_integer((json_int_t)legacy.kbd_resets));
	json_object_set_new(kbd, "ctrl_alt_del_count", json_integer((json_int_t)legacy.kbd_ctrl_alt_del));
	/* Firecracker's names for the exits it counts per vCPU... */
	json_object_set_new(vcpu, "exit_io_in", json_integer((json_int_t)st.count[EXIT_IO_IN]));
	json_object_set_new(vcpu, "exit_io_out", json_integer((json_int_t)st.count[EXIT_IO_OUT]));
	json_object_set_new(vcpu, "exit_mmio_read", json_integer((json_int_t)st.count[EXIT_MMIO_READ]));
	json_object_set_new(vcpu, "exit_mmio_write", json_integer((json_int_t)st.count[EXIT_MMIO_WRITE]));
	json_object_set_new(vcpu, "kvm_run_us", json_integer((json_int_t)(st.run_ns / 1000)));
	json_object_set_new(vcpu, "coalesced_mmio_writes", json_integer((json_int_t)st.coalesced));
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
	device_group(c, vm, "block");
	device_group(c, vm, "entropy");
	json_object_set_new(c, "uart", uart);
	json_object_set_new(c, "i8042", kbd);
	json_object_set_new(c, "vcpu", vcpu);
	json_object_set_new(c, "exits", exits);
	json_object_set_new(c, "emulated_instructions", emu);
	json_object_set_new(c, "boot_timer", json_pack("{s:I}", "reports",
				(json_int_t)stat_read(&ctl->boot_timer.reports)));
	/* petrel's: the guest's resets the machine went through, booting again each time */
	json_object_set_new(c, "vm", json_pack("{s:I}", "reset_count", (json_int_t)(vm ? vm_reset_count(vm) : 0)));
	/* the resources' own groups (out of memory: the groups they could not add are missing) */
	for (const struct ctl_resource *res = ctl_resources; res->name; res++)
		if (res->metrics_locked)
			res->metrics_locked(ctl, c);
	json_object_set_new(c, "deprecated_api", json_pack("{s:I}", "deprecated_http_api_calls",
				(json_int_t)stat_read(&ctl->deprecated_api_calls)));
	/* Network interfaces: all summed ("net") and one group per interface, as Firecracker. */
	device_group(c, vm, "net");
	device_group(c, vm, "vsock");
	/* Firecracker's signals, seccomp and vmm groups: process-wide counters */
	for (int m = 0; m < PM_COUNT; m++) {
		const char *group = proc_metric_group((enum proc_metric)m);
		json_t *g = json_object_get(c, group);
		if (!g && json_object_set_new(c, group, g = json_object()) < 0)
			goto fail;
		json_object_set_new(g, proc_metric_name((enum proc_metric)m),
				    json_integer((json_int_t)proc_metric_get((enum proc_metric)m)));
	}
	json_object_set_new(c, "logger", json_pack("{s:I, s:I}", "missed_log_count",
				(json_int_t)log_lines_dropped(), "metrics_fails",
				(json_int_t)ctl->metrics.failed));
	static const char *const lat[CTL_LATENCIES] = {
		[LAT_FULL_CREATE_SNAPSHOT] = "full_create_snapshot",
		[LAT_DIFF_CREATE_SNAPSHOT] = "diff_create_snapshot",
		[LAT_LOAD_SNAPSHOT] = "load_snapshot", [LAT_PAUSE_VM] = "pause_vm",
		[LAT_RESUME_VM] = "resume_vm",
	};
	json_t *lg = json_object();
	for (int i = 0; lg && i < CTL_LATENCIES; i++)
		json_object_set_new(lg, lat[i], json_integer((json_int_t)stat_read(&ctl->latency_us[i])));
	json_object_set_new(c, METRICS_STORE_GROUP, lg);
	json_object_set_new(c, METRICS_STARTUP_GROUP, json_pack("{s:I, s:I}",
			    "process_startup_time_us", (json_int_t)stat_read(&ctl->startup_us),
			    "process_startup_time_cpu_us", (json_int_t)stat_read(&ctl->startup_cpu_us)));
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

int ctl_put_metrics(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	static const char *const keys[] = { "metrics_path", "emit_id", "properties", NULL };
	const char *path;
	bool emit_id;
	int r;
	if ((r = ctl_json_fields(body, "metrics", keys, err, errlen)) < 0 ||
	    (r = ctl_json_opt_str(body, "metrics_path", &path, err, errlen)) < 0 ||
	    (r = ctl_json_opt_bool(body, "emit_id", false, &emit_id, err, errlen)) < 0)
		return r;
	if (!path)
		return error_set(err, errlen, -EINVAL, "metrics_path: missing required field");
	json_t *props = json_object_get(body, "properties");
	if (props && !json_is_null(props)) {
		if (!json_is_object(props))
			return error_set(err, errlen, -EINVAL, "properties: expected an object");
		const char *key;
		json_t *val;
		json_object_foreach(props, key, val) {
			if (!json_is_string(val))
				return error_set(err, errlen, -EINVAL, "properties.%s: expected a string", key);
		}
	}
	if (ctl->dry_run)
		return error_set(err, errlen, -EINVAL, "metrics_path: no host files in a dry run");
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "metrics", err, errlen); /* pre-boot only, as in Firecracker */
	if (r == 0)
		r = metrics_configure(&ctl->metrics, path, emit_id, props, err, errlen);
	if (r == 0) {
		/* a fatal signal's last line goes there too (util/proc_metrics.h) */
		proc_metrics_set_sink(ctl->metrics.fd, emit_id ? ctl->id : NULL);
		ctl->next_flush_ns = now_ns() + METRICS_FLUSH_INTERVAL_NS;
		pthread_cond_broadcast(&ctl->cond);
	}
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	log_info("metrics go to %s", path);
	return 0;
}

int ctl_flush_metrics(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = 0;
	/* As Firecracker: a pre-boot action refused before the start; nothing to do (204) when no
	 * metrics are configured. */
	if (ctl->state == INSTANCE_NOT_STARTED) {
		r = error_set(err, errlen, -EINVAL, CTL_NOT_BEFORE_START);
	} else if (metrics_configured(&ctl->metrics)) {
		r = ctl_metrics_flush_locked(ctl);
		if (r == -ENOMEM)
			error_oom(err, errlen);
		else if (r < 0)
			r = error_set(err, errlen, -EIO, "cannot write metrics to %s: %s", ctl->metrics.path,
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
