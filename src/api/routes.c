/* The API's endpoints: one handler per method and path, and the table the router matches
 * requests against (router.c). Handlers check what is the router's to check (enum fields) and
 * hand the rest to the controller. */
#include "api/controller.h"
#include "api/router_int.h"
#include "api/version.h"
#include "mmds/text.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ---- handlers ---- */

static enum api_result get_instance_info(struct call *c)
{
	return api_from_json(c, ctl_instance_info(c->ctl));
}

static enum api_result get_version(struct call *c)
{
	return api_from_json(c, json_pack("{s:s}", "firecracker_version", FC_COMPAT_VERSION));
}

static enum api_result get_machine_config(struct call *c)
{
	return api_from_json(c, ctl_machine_config(c->ctl));
}

static enum api_result get_vm_config(struct call *c)
{
	return api_from_json(c, ctl_vm_config(c->ctl));
}

#define SIMPLE_PUT(name, call_expr)                                                            \
	static enum api_result name(struct call *c)                                            \
	{                                                                                      \
		char msg[FAULT_MAX];                                                           \
		int r = (call_expr);                                                           \
		return api_from_result(c, r, msg);                                                 \
	}

SIMPLE_PUT(put_boot_source, ctl_put_boot_source(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_machine_config, ctl_put_machine_config(c->ctl, c->body, false, msg, sizeof(msg)))
SIMPLE_PUT(patch_machine_config, ctl_put_machine_config(c->ctl, c->body, true, msg, sizeof(msg)))
SIMPLE_PUT(put_cpu_config, ctl_put_cpu_config(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_logger, ctl_put_logger(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_metrics, ctl_put_metrics(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_serial, ctl_put_serial(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_drive, ctl_put_drive(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_drive, ctl_patch_drive(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_net, ctl_put_net(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_net, ctl_patch_net(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_vsock, ctl_put_vsock(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_entropy, ctl_put_entropy(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_display, ctl_put_display(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_display_input, ctl_test_display_input(c->ctl, c->body, msg, sizeof(msg)))
static enum api_result put_display_frame(struct call *c)
{
	char msg[FAULT_MAX];
	json_t *o = NULL;
	int r = ctl_test_display_frame(c->ctl, c->body, &o, msg, sizeof(msg));
	return r < 0 ? api_from_result(c, r, msg) : api_from_json(c, o);
}
SIMPLE_PUT(put_balloon, ctl_put_balloon(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_balloon, ctl_patch_balloon(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_balloon_stats, ctl_patch_balloon_stats(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_pmem, ctl_put_pmem(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_pmem, ctl_patch_pmem(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_fs, ctl_put_fs(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_console_port, ctl_put_console_port(c->ctl, c->id, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_guest_agent, ctl_put_guest_agent(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_balloon_hint_start, ctl_balloon_hint_start(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_balloon_hint_stop, ctl_balloon_hint_stop(c->ctl, msg, sizeof(msg)))
/* petrel's vCPU hot-plug (docs/user-guide.md) */
SIMPLE_PUT(put_hotplug_vcpu, ctl_put_hotplug_vcpu(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_hotplug_vcpu, ctl_patch_hotplug_vcpu(c->ctl, c->body, msg, sizeof(msg)))
static enum api_result get_hotplug_vcpu(struct call *c)
{
	char msg[FAULT_MAX];
	json_t *o = NULL;
	int r = ctl_get_hotplug_vcpu(c->ctl, &o, msg, sizeof(msg));
	return r < 0 ? api_from_result(c, r, msg) : api_from_json(c, o);
}

/* GETs that may fail with a 400 (docs/balloon.md). */
static enum api_result get_balloon_common(struct call *c, bool stats)
{
	char msg[FAULT_MAX];
	json_t *o;
	int r = stats ? ctl_get_balloon_stats(c->ctl, &o, msg, sizeof(msg))
		      : ctl_get_balloon(c->ctl, &o, msg, sizeof(msg));
	return r < 0 ? api_from_result(c, r, msg) : api_from_json(c, o);
}
static enum api_result get_balloon(struct call *c) { return get_balloon_common(c, false); }
static enum api_result get_balloon_stats(struct call *c) { return get_balloon_common(c, true); }

SIMPLE_PUT(put_hotplug_memory, ctl_put_hotplug_memory(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(patch_hotplug_memory, ctl_patch_hotplug_memory(c->ctl, c->body, msg, sizeof(msg)))
static enum api_result get_hotplug_memory(struct call *c)
{
	char msg[FAULT_MAX];
	json_t *o = NULL;
	int r = ctl_get_hotplug_memory(c->ctl, &o, msg, sizeof(msg));
	return r < 0 ? api_from_result(c, r, msg) : api_from_json(c, o);
}
static enum api_result get_balloon_hint_status(struct call *c)
{
	char msg[FAULT_MAX];
	json_t *o;
	int r = ctl_balloon_hint_status(c->ctl, &o, msg, sizeof(msg));
	return r < 0 ? api_from_result(c, r, msg) : api_from_json(c, o);
}

/* MMDS (docs/mmds.md): a PUT or PATCH over the data store limit is Firecracker's 413. */
static enum api_result put_or_patch_mmds(struct call *c, bool patch)
{
	char msg[FAULT_MAX];
	int r = ctl_put_mmds(c->ctl, c->body, patch, msg, sizeof(msg));
	if (r == -E2BIG) {
		api_response_fault(c->resp, 413, "%s", msg);
		return API_DONE;
	}
	return api_from_result(c, r, msg);
}
static enum api_result put_mmds(struct call *c) { return put_or_patch_mmds(c, false); }
static enum api_result patch_mmds(struct call *c) { return put_or_patch_mmds(c, true); }
/* The document in serde_json's text, as Firecracker answers it (sorted keys, the shortest
 * reals: jansson would write 12.12 as 12.119999999999999). */
static enum api_result get_mmds(struct call *c)
{
	json_t *v = ctl_get_mmds(c->ctl);
	struct mmds_buf b = { 0 };
	if (v)
		mmds_json_write(&b, v);
	json_decref(v);
	if (!v || b.oom || !b.data) {
		mmds_buf_free(&b);
		api_response_fault(c->resp, 500, "out of memory");
		return API_DONE;
	}
	c->resp->status = 200;
	c->resp->body = b.data;   /* the response owns it now */
	return API_DONE;
}
static enum api_result put_mmds_config(struct call *c)
{
	/* Firecracker marks V1 (also when it is the default) deprecated. */
	json_t *v = json_object_get(c->body, "version");
	c->resp->deprecated = !v || json_is_null(v) || (json_is_string(v) && !strcmp(json_string_value(v), "V1"));
	char msg[FAULT_MAX];
	int r = ctl_put_mmds_config(c->ctl, c->body, msg, sizeof(msg));
	return api_from_result(c, r, msg);
}

/* Work that waits for the VM goes to the controller's worker; this carries the answer back. */
struct pending {
	struct controller *ctl;
	enum api_counter counter;
	api_done_fn done;
	void *opaque;
	bool deprecated;
	enum ctl_action action;
	void *arg;                    /* the job's argument: alive until done returns */
};

/* What a job answers besides 204: a /guest/... request's agent answer (ctl_guest.c), a
 * snapshot's consistency (ctl_snapshot.c). */
static json_t *job_answer(const struct pending *p)
{
	if (p->action == CTL_ACTION_GUEST)
		return ctl_guest_take_answer(p->arg);
	if (p->action == CTL_ACTION_SNAPSHOT)
		return ctl_snapshot_take_answer(p->arg);
	return NULL;
}

static void pending_done(void *opaque, int err, const char *msg)
{
	struct pending *p = opaque;
	struct api_response resp = { 204, NULL, p->deprecated };
	json_t *answer = p->arg && !err ? job_answer(p) : NULL;
	bool guest = p->action == CTL_ACTION_GUEST;
	if (err)
		api_response_fault(&resp, guest ? ctl_guest_http_status(err) : err == -ENOMEM ? 500 : 400, "%s",
				   msg ? msg : strerror(-err));
	else if (answer)
		api_set_json(&resp, 200, answer);
	ctl_count_request(p->ctl, p->counter, resp.status >= 400);
	if (resp.status >= 400)
		log_info("API request failed (%u): %s", resp.status, msg ? msg : "");
	p->done(p->opaque, &resp);
	free(p);
}

static enum api_result submit_arg(struct call *c, enum ctl_action action, void *arg);

static enum api_result submit(struct call *c, enum ctl_action action)
{
	return submit_arg(c, action, NULL);
}

/* The argument of an action that never reached the controller. */
static void drop_arg(enum ctl_action action, void *arg)
{
	if (action == CTL_ACTION_SNAPSHOT)
		ctl_snapshot_request_free(arg);
	if (action == CTL_ACTION_GUEST)
		ctl_guest_request_free(arg);
}

static enum api_result submit_arg(struct call *c, enum ctl_action action, void *arg)
{
	if (!c->done) {
		drop_arg(action, arg);
		api_response_fault(c->resp, 400, "this request cannot be served here");
		return API_DONE;
	}
	struct pending *p = malloc(sizeof(*p));
	if (!p) {
		drop_arg(action, arg);
		api_response_fault(c->resp, 500, "out of memory");
		return API_DONE;
	}
	*p = (struct pending){ c->ctl, c->counter, c->done, c->opaque, c->resp->deprecated, action, arg };
	int r = ctl_submit_arg(c->ctl, action, arg, pending_done, p);
	if (r < 0) {
		free(p);
		drop_arg(action, arg);
		api_response_fault(c->resp, r == -ENOMEM ? 500 : 400, "%s",
				   r == -ESHUTDOWN ? "petrel is shutting down" : strerror(-r));
		return API_DONE;
	}
	return API_PENDING;
}

/* A body of exactly one string field whose value is one of `values`. */
static int one_enum_field(json_t *body, const char *field, const char *const *values,
			  const char **out, char *msg, size_t len)
{
	const char *key;
	json_t *val;
	json_object_foreach(body, key, val) {
		if (strcmp(key, field) != 0) {
			snprintf(msg, len, "%s: unknown field", key);
			return -EINVAL;
		}
	}
	json_t *v = json_object_get(body, field);
	if (!v) {
		snprintf(msg, len, "%s: missing required field", field);
		return -EINVAL;
	}
	if (!json_is_string(v)) {
		snprintf(msg, len, "%s: expected a string", field);
		return -EINVAL;
	}
	for (const char *const *p = values; *p; p++) {
		if (!strcmp(*p, json_string_value(v)) &&
		    strlen(json_string_value(v)) == json_string_length(v)) {
			*out = *p;
			return 0;
		}
	}
	char list[128] = "";
	for (const char *const *p = values; *p; p++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 p == values ? "" : ", ", *p);
	snprintf(msg, len, "%s: '%s' is not one of %s", field, json_string_value(v), list);
	return -EINVAL;
}

static enum api_result put_actions(struct call *c)
{
	static const char *const actions[] = { "FlushMetrics", "InstanceStart", "SendCtrlAltDel",
					       NULL };
	char msg[FAULT_MAX];
	const char *action;
	int r = one_enum_field(c->body, "action_type", actions, &action, msg, sizeof(msg));
	if (r < 0)
		return api_from_result(c, r, msg);
	if (!strcmp(action, "InstanceStart")) {
		if ((r = ctl_check_start(c->ctl, msg, sizeof(msg))) < 0)
			return api_from_result(c, r, msg);
		return submit(c, CTL_ACTION_START);
	}
	if (!strcmp(action, "SendCtrlAltDel"))
		r = ctl_send_ctrl_alt_del(c->ctl, msg, sizeof(msg));
	else
		r = ctl_flush_metrics(c->ctl, msg, sizeof(msg));
	return api_from_result(c, r, msg);
}

static enum api_result patch_vm(struct call *c)
{
	static const char *const states[] = { "Paused", "Resumed", NULL };
	char msg[FAULT_MAX];
	const char *state;
	int r = one_enum_field(c->body, "state", states, &state, msg, sizeof(msg));
	if (r == 0)
		r = ctl_check_vm_state_change(c->ctl, msg, sizeof(msg));
	if (r < 0)
		return api_from_result(c, r, msg);
	return submit(c, !strcmp(state, "Paused") ? CTL_ACTION_PAUSE : CTL_ACTION_RESUME);
}

static enum api_result put_snapshot(struct call *c, enum snapshot_request_kind kind)
{
	char msg[FAULT_MAX];
	struct snapshot_request *q;
	int r = ctl_snapshot_parse(c->body, kind, &q, msg, sizeof(msg));
	if (r < 0)
		return api_from_result(c, r, msg);
	return submit_arg(c, CTL_ACTION_SNAPSHOT, q);
}

static enum api_result put_snapshot_create(struct call *c) { return put_snapshot(c, SNAP_REQ_CREATE); }
static enum api_result put_snapshot_load(struct call *c) { return put_snapshot(c, SNAP_REQ_LOAD); }
/* petrel's own: a backup of the running VM (docs/snapshots.md). */
static enum api_result put_snapshot_backup(struct call *c) { return put_snapshot(c, SNAP_REQ_BACKUP); }

/* petrel's own: the guest's agent (docs/guest-agent.md), on the worker: it may wait for the
 * agent's timeout. */
static enum api_result guest(struct call *c, enum guest_op op)
{
	char msg[FAULT_MAX];
	struct guest_request *q;
	int r = ctl_guest_parse(c->body, op, &q, msg, sizeof(msg));
	if (r < 0)
		return api_from_result(c, r, msg);
	return submit_arg(c, CTL_ACTION_GUEST, q);
}
static enum api_result get_guest_ping(struct call *c) { return guest(c, GUEST_PING); }
static enum api_result get_guest_info(struct call *c) { return guest(c, GUEST_INFO); }
static enum api_result get_guest_interfaces(struct call *c) { return guest(c, GUEST_INTERFACES); }
static enum api_result put_guest_fsfreeze(struct call *c) { return guest(c, GUEST_FSFREEZE); }
static enum api_result put_guest_shutdown(struct call *c) { return guest(c, GUEST_SHUTDOWN); }
static enum api_result put_guest_time(struct call *c) { return guest(c, GUEST_TIME); }
static enum api_result put_guest_fstrim(struct call *c) { return guest(c, GUEST_FSTRIM); }

/* petrel's own: live migration (docs/migration.md). */
SIMPLE_PUT(put_migration_receive, ctl_migration_receive(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_migration_send, ctl_migration_send(c->ctl, c->body, msg, sizeof(msg)))
SIMPLE_PUT(put_replication, ctl_replication_put(c->ctl, c->body, msg, sizeof(msg)))
/* Asked at once (or refused); the answer waits on the worker for the guest to run, so that
 * the API goes on answering (GET /replication: "promoting") meanwhile. */
static enum api_result patch_replication(struct call *c)
{
	char msg[FAULT_MAX];
	int r = ctl_replication_patch(c->ctl, c->body, msg, sizeof(msg));
	return r < 0 ? api_from_result(c, r, msg) : submit(c, CTL_ACTION_PROMOTE);
}
static enum api_result get_replication(struct call *c)
{
	return api_from_json(c, ctl_replication_status(c->ctl));
}
static enum api_result get_migration(struct call *c)
{
	return api_from_json(c, ctl_migration_status(c->ctl));
}

const struct route api_routes[] = {
	{ "", .get = { get_instance_info, API_GET_INSTANCE_INFO } },
	{ "version", .get = { get_version, API_GET_VMM_VERSION } },
	{ "machine-config", .get = { get_machine_config, API_GET_MACHINE_CFG },
	  .put = { put_machine_config, API_PUT_MACHINE_CFG },
	  .patch = { patch_machine_config, API_PATCH_MACHINE_CFG } },
	{ "vm/config", .get = { get_vm_config, API_GET_VM_CONFIG } },
	{ "vm", .patch = { patch_vm, API_PATCH_VM } },
	{ "actions", .put = { put_actions, API_PUT_ACTIONS } },
	{ "boot-source", .put = { put_boot_source, API_PUT_BOOT_SOURCE } },
	{ "cpu-config", .put = { put_cpu_config, API_PUT_CPU_CFG } },
	{ "logger", .put = { put_logger, API_PUT_LOGGER } },
	{ "metrics", .put = { put_metrics, API_PUT_METRICS } },
	{ "serial", .put = { put_serial, API_PUT_SERIAL } },
	{ "drives/*", .put = { put_drive, API_PUT_DRIVE }, .patch = { patch_drive, API_PATCH_DRIVE } },
	{ "network-interfaces/*", .put = { put_net, API_PUT_NETWORK },
	  .patch = { patch_net, API_PATCH_NETWORK } },
	{ "vsock", .put = { put_vsock, API_PUT_VSOCK } },
	{ "entropy", .put = { put_entropy, API_PUT_ENTROPY } },
	{ "balloon", .get = { get_balloon, API_GET_BALLOON }, .put = { put_balloon, API_PUT_BALLOON },
	  .patch = { patch_balloon, API_PATCH_BALLOON } },
	{ "balloon/statistics", .get = { get_balloon_stats, API_GET_BALLOON },
	  .patch = { patch_balloon_stats, API_PATCH_BALLOON } },
	/* Firecracker takes these without a body (start: acknowledge_on_stop defaults to true;
	 * stop does not read one at all). */
	{ "balloon/hinting/start", .patch = { patch_balloon_hint_start, API_PATCH_BALLOON },
	  .body = ROUTE_BODY_OPTIONAL },
	{ "balloon/hinting/status", .get = { get_balloon_hint_status, API_GET_BALLOON } },
	{ "balloon/hinting/stop", .patch = { patch_balloon_hint_stop, API_PATCH_BALLOON },
	  .body = ROUTE_BODY_IGNORED },
	{ "hotplug/vcpu", .get = { get_hotplug_vcpu, API_GET_HOTPLUG_VCPU },
	  .put = { put_hotplug_vcpu, API_PUT_HOTPLUG_VCPU }, .patch = { patch_hotplug_vcpu, API_PATCH_HOTPLUG_VCPU } },
	{ "snapshot/create", .put = { put_snapshot_create, API_PUT_SNAPSHOT } },
	{ "snapshot/load", .put = { put_snapshot_load, API_PUT_SNAPSHOT } },
	{ "snapshot/backup", .put = { put_snapshot_backup, API_PUT_SNAPSHOT } },
	{ "migration", .get = { get_migration, API_GET_MIGRATION } },
	{ "migration/receive", .put = { put_migration_receive, API_PUT_MIGRATION } },
	{ "migration/send", .put = { put_migration_send, API_PUT_MIGRATION } },
	{ "replication", .get = { get_replication, API_GET_REPLICATION }, .put = { put_replication, API_PUT_REPLICATION },
	  .patch = { patch_replication, API_PATCH_REPLICATION } },
	/* In the spec, not in petrel yet. */
	/* Firecracker's store takes any JSON value (a PATCH that is not an object replaces it). */
	{ "mmds", .get = { get_mmds, API_GET_MMDS }, .put = { put_mmds, API_PUT_MMDS },
	  .patch = { patch_mmds, API_PATCH_MMDS }, .body = ROUTE_BODY_ANY_JSON },
	{ "mmds/config", .put = { put_mmds_config, API_PUT_MMDS } },
	{ "pmem/*", .put = { put_pmem, API_PUT_PMEM }, .patch = { patch_pmem, API_PATCH_PMEM } },
	{ "fs/*", .put = { put_fs, API_PUT_FS } }, /* petrel's virtio-fs (docs/virtio-fs.md) */
	/* petrel's virtio-console ports and the guest agent's switch (docs/guest-agent.md) */
	{ "console-ports/*", .put = { put_console_port, API_PUT_CONSOLE_PORT } },
	{ "guest-agent", .put = { put_guest_agent, API_PUT_GUEST_AGENT } },
	{ "display", .put = { put_display, API_PUT_DISPLAY } }, /* petrel's screen (docs/display.md) */
	{ "display/frame", .put = { put_display_frame, API_PUT_DISPLAY } },  /* test-only */
	{ "display/input", .put = { put_display_input, API_PUT_DISPLAY } },  /* test-only */
	/* petrel's guest agent (docs/guest-agent.md) */
	{ "guest/ping", .get = { get_guest_ping, API_GET_GUEST } },
	{ "guest/info", .get = { get_guest_info, API_GET_GUEST } },
	{ "guest/interfaces", .get = { get_guest_interfaces, API_GET_GUEST } },
	{ "guest/fsfreeze", .put = { put_guest_fsfreeze, API_PUT_GUEST } },
	{ "guest/shutdown", .put = { put_guest_shutdown, API_PUT_GUEST }, .body = ROUTE_BODY_OPTIONAL },
	{ "guest/time", .put = { put_guest_time, API_PUT_GUEST }, .body = ROUTE_BODY_OPTIONAL },
	{ "guest/fstrim", .put = { put_guest_fstrim, API_PUT_GUEST }, .body = ROUTE_BODY_OPTIONAL },
	{ "hotplug/memory", .get = { get_hotplug_memory, API_GET_HOTPLUG_MEMORY },
	  .put = { put_hotplug_memory, API_PUT_HOTPLUG_MEMORY },
	  .patch = { patch_hotplug_memory, API_PATCH_HOTPLUG_MEMORY } },
};

const size_t api_nroutes = ARRAY_SIZE(api_routes);
