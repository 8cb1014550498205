/* Replicated VMs under petreld (docs/manager.md#replicated-vms): a VM's worker as petrel's
 * replication standby in external takeover mode (it never runs the guest by itself), or as
 * the primary replicating to one; a standby is promoted by a verb, which is what a cluster
 * manager (Pacemaker, through ocf/) calls once the old primary is fenced or stopped.
 *
 *   GET  /vms/NAME/replica           {"role", "state", "running", ...}
 *   POST /vms/NAME/replica/standby   {"listen_url", "failure_timeout_ms"?}
 *   POST /vms/NAME/replica/primary   {"peer_url", "checkpoint_interval_ms"?, "failure_timeout_ms"?,
 *                                     "on_standby_loss"?}
 *   POST /vms/NAME/replica/promote
 *
 * The verbs run as jobs on a thread of their own with the VM busy (jobs.c); a watcher thread per
 * replicated worker follows its GET /replication, keeps the last answer for GET .../replica
 * and turns its changes into events. The VM's state says what the worker does: "standby"
 * (holds the guest, does not run it) until promoted, then "running". */
#include "manager/replica.h"
#include "manager/events.h"
#include "manager/definitions.h"
#include "manager/mgr.h"
#include "manager/peer/peer.h"
#include "manager/runstate.h"
#include "manager/start.h"
#include "http/client.h"
#include "manager/util.h"
#include "manager/wclient.h"
#include "manager/worker.h"
#include "http/response.h"
#include "util/error.h"
#include "util/json_util.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WATCH_MS 50
#define PROTECT_WAIT_MS 120000     /* the initial sync: the whole of guest memory (and disks) */
#define PROMOTE_CALL_MS 15000      /* the worker's own wait is 10 s */

static const char *role_name(enum replica_role r)
{
	return r == REPLICA_PRIMARY ? "primary" : r == REPLICA_STANDBY ? "standby" : "none";
}

/* A call to vm's worker: 0 and *out (may be NULL), or its refusal (-EBUSY, 409) or failure
 * (-EIO, -ETIMEDOUT) with the worker's own message. */
static int worker_json(struct manager *m, struct mgr_vm *vm, const char *method, const char *path, json_t *body,
		       unsigned timeout_ms, json_t **out, char *err, size_t errlen)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, *reply = NULL;
	int st = worker_request(m, vm, method, path, text, timeout_ms, &reply, err, errlen);
	free(text);
	json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;
	free(reply);
	int e = 0;
	if (st < 0)
		e = st;
	else if (st >= 300)
		e = error_set(err, errlen, -(st < 500 ? EBUSY : EIO), "%s", json_string_value(json_object_get(o, "fault_message"))
			    ?: "the worker refused");
	if (e == 0 && out)
		*out = o;
	else
		json_decref(o);
	return e;
}

/* ---- the watcher ---- */

struct watch {
	struct manager *m;
	char name[VM_NAME_MAX + 1];
	pid_t pid;
};

/* The worker's replication state went from prev to now (m->lock held). */
static void observe(struct manager *m, struct mgr_vm *vm, json_t *o)
{
	const char *prev = json_str_or_empty(vm->replica_status, "state"), *now = json_str_or_empty(o, "state");
	static const struct { const char *state, *event; } events[] = {
		{ "protected", "replication protected" }, { "unprotected", "standby lost" },
		{ "primary-lost", "primary lost" }, { "stopped", "replication stopped" },
	};
	if (strcmp(prev, now))
		for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++)
			if (!strcmp(now, events[i].state))
				mgr_event_emit(m, vm->def.name, events[i].event,
					   json_pack("{s:s, s:s, s:s}", "role", role_name(vm->replica), "peer",
						     json_str_or_empty(o, "peer"), "reason", json_str_or_empty(o, "reason")));
	json_decref(vm->replica_status);
	vm->replica_status = o;
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;
	struct manager *m = w->m;
	for (;;) {
		usleep(WATCH_MS * 1000);
		char sock[sizeof(((struct mgr_vm *)0)->api_sock)];
		pthread_mutex_lock(&m->lock);
		struct mgr_vm *vm = mgr_vm_find(m, w->name);
		bool on = vm && vm->pid == w->pid && vm->replica != REPLICA_NONE && !m->quitting;
		if (on)
			memcpy(sock, vm->api_sock, sizeof(sock));
		pthread_mutex_unlock(&m->lock);
		if (!on)
			break;
		char *reply = NULL;
		int st = uhttp_request(sock, "GET", "/replication", NULL, 1000, &reply);
		json_t *o = st == 200 && reply ? json_loads(reply, 0, NULL) : NULL;
		free(reply);
		if (!json_is_object(o)) {
			json_decref(o);
			continue;
		}
		pthread_mutex_lock(&m->lock);
		vm = mgr_vm_find(m, w->name);
		if (vm && vm->pid == w->pid)
			observe(m, vm, o);
		else
			json_decref(o);
		pthread_mutex_unlock(&m->lock);
	}
	free(w);
	return NULL;
}

/* m->lock held. */
static void watch_start(struct manager *m, struct mgr_vm *vm)
{
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return;
	*w = (struct watch){ .m = m, .pid = vm->pid };
	snprintf(w->name, sizeof(w->name), "%s", vm->def.name);
	if (mgr_detached(watch_thread, w) < 0) {
		mgr_vm_log(m, vm->def.name, "cannot follow its replication: no thread");
		free(w);
	}
}

void replica_adopted(struct manager *m, struct mgr_vm *vm)
{
	watch_start(m, vm);
}

void replica_ended(struct manager *m, struct mgr_vm *vm)
{
	vm->replica = REPLICA_NONE;
	json_decref(vm->replica_status);
	vm->replica_status = NULL;
}

/* ---- the verbs ---- */

/* The standby's PUT /replication: this host's taps, vsock socket and images (the definition's,
 * with the worker's paths), and never a takeover of its own. */
static json_t *standby_body(json_t *args, json_t *fc)
{
	json_t *b = json_pack("{s:s, s:s, s:O}", "role", "standby", "takeover", "external", "listen_url",
			      json_object_get(args, "listen_url"));
	json_t *t = json_object_get(args, "failure_timeout_ms");
	if (t)
		json_object_set(b, "failure_timeout_ms", t);
	json_t *nets = json_array(), *drives = json_array(), *el;
	size_t i;
	json_array_foreach(json_object_get(fc, "network-interfaces"), i, el)
		if (json_is_string(json_object_get(el, "host_dev_name")))
			json_array_append_new(nets, json_pack("{s:O, s:O}", "iface_id", json_object_get(el, "iface_id"),
							      "host_dev_name", json_object_get(el, "host_dev_name")));
	json_array_foreach(json_object_get(fc, "drives"), i, el)
		if (json_is_string(json_object_get(el, "path_on_host")))
			json_array_append_new(drives, json_pack("{s:O, s:O}", "drive_id", json_object_get(el, "drive_id"),
								"path_on_host", json_object_get(el, "path_on_host")));
	json_object_set_new(b, "network_overrides", nets);
	json_object_set_new(b, "drive_overrides", drives);
	json_t *uds = json_object_get(json_object_get(fc, "vsock"), "uds_path");
	if (json_is_string(uds))
		json_object_set_new(b, "vsock_override", json_pack("{s:O}", "uds_path", uds));
	return b;
}

int replica_standby(struct manager *m, struct mgr_vm *vm, json_t *args, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	vm->promoted_by[0] = 0;   /* a standby again */
	enum mgr_vm_state before = vm->state;
	bool vars_made;   /* a UEFI standby's variables: its own file, filled by the checkpoints */
	int e = mgr_def_files_ready(m, &vm->def, &vars_made, err, errlen);
	if (e == 0)
		vm->state = VM_STARTING;
	pthread_mutex_unlock(&m->lock);
	json_t *fc = NULL;
	if (e == 0 && (e = worker_launch(m, vm, NULL, &fc, err, errlen)) == 0) {
		json_t *b = standby_body(args, fc);
		if ((e = peer_tls_body(m, vm, b, "listen_url", err, errlen)) < 0 ||
		    (e = worker_json(m, vm, "PUT", "/replication", b, m->api_timeout_ms, NULL, err, errlen)) < 0) {
			mgr_vm_log(m, vm->def.name, "standby: %s", err);
			worker_kill(m, vm);
		}
		json_decref(b);
		json_decref(fc);
	}
	pthread_mutex_lock(&m->lock);
	if (e < 0) {
		if (vm->state == VM_STARTING)
			vm->state = before == VM_CRASHED ? VM_CRASHED : VM_SHUTOFF;
		mgr_event_emit(m, vm->def.name, "replication failed", json_pack("{s:s, s:s}", "role", "standby", "reason", err));
	} else {
		vm->state = VM_STANDBY;
		vm->replica = REPLICA_STANDBY;
		vm->started_at = time(NULL);
		runstate_save(m, vm);
		mgr_event_emit(m, vm->def.name, "replication started",
			   json_pack("{s:s, s:O}", "role", "standby", "listen_url", json_object_get(args, "listen_url")));
		watch_start(m, vm);
	}
	pthread_mutex_unlock(&m->lock);
	return e;
}

/* Wait until the primary's worker says protected: 0, or why not. */
static int wait_protected(struct manager *m, struct mgr_vm *vm, char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + PROTECT_WAIT_MS;
	for (;;) {
		json_t *o = NULL;
		int e = worker_json(m, vm, "GET", "/replication", NULL, m->api_timeout_ms, &o, err, errlen);
		if (e < 0)
			return e;
		const char *st = json_str_or_empty(o, "state");
		if (!strcmp(st, "protected")) {
			json_decref(o);
			return 0;
		}
		if (!strcmp(st, "stopped") || !strcmp(st, "unprotected")) {
			e = error_set(err, errlen, -EIO, "not protected: the replication to %s %s: %s", json_str_or_empty(o, "peer"),
				    st, json_str_or_empty(o, "reason"));
			json_decref(o);
			return e;
		}
		json_decref(o);
		if (now_ms() >= deadline)
			return error_set(err, errlen, -ETIMEDOUT, "not protected after %u s (the initial sync goes on)",
				       PROTECT_WAIT_MS / 1000);
		usleep(WATCH_MS * 1000);
	}
}

int replica_primary(struct manager *m, struct mgr_vm *vm, json_t *args, char *err, size_t errlen)
{
	pthread_mutex_lock(&m->lock);
	bool up = vm->state == VM_RUNNING || vm->state == VM_PAUSED;
	pthread_mutex_unlock(&m->lock);
	const char *url = json_str_or_empty(args, "peer_url");
	int e = up ? 0 : start_boot(m, vm, false, err, errlen);
	/* Already replicating to that standby: nothing to do (the cluster's agent repeats itself). */
	json_t *cur = NULL;
	bool already = false;
	if (e == 0 && worker_json(m, vm, "GET", "/replication", NULL, m->api_timeout_ms, &cur, err, errlen) == 0)
		already = !strcmp(json_str_or_empty(cur, "role"), "primary") && !strcmp(json_str_or_empty(cur, "peer"), url) &&
			  (!strcmp(json_str_or_empty(cur, "state"), "syncing") || !strcmp(json_str_or_empty(cur, "state"), "protected"));
	json_decref(cur);
	if (e == 0 && !already) {
		json_t *b = json_deep_copy(args);
		json_object_set_new(b, "role", json_string("primary"));
		e = peer_tls_body(m, vm, b, "peer_url", err, errlen);
		if (e == 0)
			e = worker_json(m, vm, "PUT", "/replication", b, m->api_timeout_ms, NULL, err, errlen);
		json_decref(b);
	}
	pthread_mutex_lock(&m->lock);
	if (e < 0) {
		mgr_event_emit(m, vm->def.name, "replication failed", json_pack("{s:s, s:s}", "role", "primary", "reason", err));
	} else {
		bool watched = vm->replica != REPLICA_NONE;
		vm->replica = REPLICA_PRIMARY;
		if (!already)
			mgr_event_emit(m, vm->def.name, "replication started",
				   json_pack("{s:s, s:s}", "role", "primary", "peer_url", url));
		if (!watched)
			watch_start(m, vm);
	}
	pthread_mutex_unlock(&m->lock);
	return e < 0 ? e : wait_protected(m, vm, err, errlen);
}

int replica_promote(struct manager *m, struct mgr_vm *vm, json_t *args, char *err, size_t errlen)
{
	const char *by = json_string_value(json_object_get(args, "by"));
	json_t *b = json_pack("{s:s}", "action", "promote"), *st = NULL;
	int e = worker_json(m, vm, "PATCH", "/replication", b, PROMOTE_CALL_MS, NULL, err, errlen);
	json_decref(b);
	if (e == 0)
		worker_json(m, vm, "GET", "/replication", NULL, m->api_timeout_ms, &st, err + errlen / 2, errlen / 2);
	pthread_mutex_lock(&m->lock);
	if (e < 0) {
		mgr_event_emit(m, vm->def.name, "promote failed", json_pack("{s:s}", "reason", err));
	} else {
		vm->replica = REPLICA_PRIMARY; /* it runs the guest: a new standby is its to have */
		vm->state = VM_RUNNING;
		vm->started_at = time(NULL);
		runstate_save(m, vm);
		mgr_event_emit(m, vm->def.name, "promoted",
			   json_pack("{s:O?, s:O?, s:O?, s:s?}", "checkpoints", json_object_get(st, "checkpoints"), "generation",
				     json_object_get(st, "generation"), "failover_ms", json_object_get(st, "failover_ms"),
				     "by", by));
		snprintf(vm->promoted_by, sizeof(vm->promoted_by), "%s", by ? by : "");
		if (st) {
			json_decref(vm->replica_status);
			vm->replica_status = json_incref(st);
		}
	}
	pthread_mutex_unlock(&m->lock);
	json_decref(st);
	return e;
}

/* ---- the API ---- */

static json_t *status_json(struct mgr_vm *vm)
{
	json_t *s = vm->replica_status;
	const char *state = json_str_or_empty(s, "state");
	json_t *o = json_pack("{s:s, s:s, s:b, s:s}", "role", role_name(vm->replica), "state",
			      vm->replica ? (*state ? state : "starting") : "none", "running",
			      vm->state == VM_RUNNING || vm->state == VM_PAUSED, "vm_state", mgr_vm_state_name(vm->state));
	if (!o || !vm->replica)
		return o;
	json_object_set_new(o, "takeover", json_string("external"));
	static const char *const copied[] = { "peer", "generation", "checkpoints", "reason", "failover_ms", "promoting",
					      "checkpoint_interval_ms", "failure_timeout_ms", "output_held_bytes", NULL };
	for (const char *const *k = copied; *k; k++)
		if (json_object_get(s, *k))
			json_object_set(o, *k, json_object_get(s, *k));
	if (vm->replica == REPLICA_PRIMARY && vm->promoted_by[0])
		json_object_set_new(o, "promoted_by", json_string(vm->promoted_by));
	return o;
}

static enum mgr_verb refuse(struct api_response *r, unsigned status, const char *fmt, const char *name,
			    const char *what)
{
	api_response_fault(r, status, fmt, name, what);
	return MGR_VERB_NONE;
}

enum mgr_verb replica_route(struct manager *m, struct mgr_vm *vm, const char *method, const char *rest,
			    const char *body, size_t len, json_t **out, struct api_response *r)
{
	const char *name = vm->def.name;
	if (!rest) {
		if (strcmp(method, "GET"))
			return refuse(r, 405, "%s%s", "", "GET");
		json_t *o = status_json(vm);
		r->status = o ? 200 : 500;
		r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		return MGR_VERB_NONE;
	}
	static const struct { const char *name; enum mgr_verb verb; } verbs[] = {
		{ "standby", MGR_VERB_REPLICA_STANDBY }, { "primary", MGR_VERB_REPLICA_PRIMARY },
		{ "promote", MGR_VERB_REPLICA_PROMOTE },
	};
	const char *verb = NULL;
	enum mgr_verb v = MGR_VERB_NONE;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (!strcmp(rest, verbs[i].name)) {
			verb = verbs[i].name;
			v = verbs[i].verb;
		}
	if (!verb)
		return refuse(r, 404, "%s%s", "", "unknown path: standby, primary or promote");
	if (strcmp(method, "POST"))
		return refuse(r, 405, "%s%s", "", "POST");
	if (vm->job)
		return refuse(r, 409, "VM '%s' is busy: %s in progress", name, vm->job->name);
	char err[512];
	json_t *args;
	if (replica_parse(verb, body, len, &args, err, sizeof(err)) < 0)
		return refuse(r, 400, "%s%s", "", err);
	const char *why = NULL;
	bool up = vm->pid > 0, standby = v == MGR_VERB_REPLICA_STANDBY, primary = v == MGR_VERB_REPLICA_PRIMARY;
	if (standby && vm->state == VM_STANDBY && json_equal(json_object_get(args, "listen_url"),
							     json_object_get(vm->replica_args, "listen_url"))) {
		json_decref(args); /* so it is already: the cluster's agent repeats itself */
		return replica_route(m, vm, "GET", NULL, NULL, 0, out, r);
	}
	if (standby && up)
		why = vm->state == VM_STANDBY ? "VM '%s' is a %s here already, on another listen_url"
					      : "VM '%s' is %s here: a standby must not run it (destroy it first)";
	else if (primary && vm->state == VM_STANDBY)
		why = "VM '%s' is a %s here: promote it first";
	else if (vm->state == VM_STARTING)
		why = "VM '%s' is %s";
	else if (!standby && !primary && vm->replica != REPLICA_STANDBY)
		why = !strcmp(json_str_or_empty(vm->replica_status, "state"), "active")
			      ? "VM '%s' was promoted already: it is %s here"
		      : up ? "VM '%s' is %s here as the primary, or not replicated: only a standby can be promoted"
			   : "VM '%s' is %s: it is no standby here";
	if (why) {
		json_decref(args);
		return refuse(r, 409, why, name, mgr_vm_state_name(vm->state));
	}
	json_decref(vm->replica_args);
	vm->replica_args = args;
	*out = json_incref(args);
	return v;
}
