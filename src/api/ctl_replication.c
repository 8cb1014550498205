/* PUT, PATCH and GET /replication (petrel's, docs/high-availability.md): the bodies, checked
 * strictly, and the controller's side: a standby becomes a running instance when it takes over
 * (by itself, or promoted: PATCH {"action": "promote"}); a primary whose policy says stop
 * stops with its standby. */
#include "api/core.h"
#include "ha/replication.h"
#include "util/tls.h"
#include "migration/url.h"
#include "util/json_util.h"
#include "util/log.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int uint_field(json_t *b, const char *key, unsigned min, unsigned max, unsigned *out, char *err,
		      size_t errlen)
{
	json_t *v = json_object_get(b, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return error_set(err, errlen, -EINVAL, "%s: expected an integer %u-%u", key, min, max);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static const char *url_of(json_t *b, const char *key, char *err, size_t errlen)
{
	json_t *v = json_object_get(b, key);
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
		error_set(err, errlen, -EINVAL, "%s: missing, or not a string", key);
		return NULL;
	}
	return mig_url_check(json_string_value(v), err, errlen) < 0 ? NULL : json_string_value(v);
}

/* On the replication thread. */
static void on_event(void *opaque, struct replication *r, enum repl_state st)
{
	struct controller *ctl = opaque;
	if (st != REPL_ACTIVE)
		return;
	pthread_mutex_lock(&ctl->lock);
	if (ctl->repl_vm) { /* the standby took over: this instance runs the guest now */
		ctl->vm = ctl->repl_vm;
		ctl->repl_vm = NULL;
		serial_set_rate_limiter(vm_serial(ctl->vm), &ctl->serial_limit);
		ctl->state = INSTANCE_RUNNING;
	}
	struct vm *vm = ctl->vm;
	pthread_mutex_unlock(&ctl->lock);
	ctl_notify_main(ctl);
	if (vm && !ctl->vnc)
		ctl_display_serve(ctl, vm);
}

static int standby(struct controller *ctl, json_t *b, char *err, size_t errlen)
{
	static const char *const keys[] = { "role", "listen_url", "failure_timeout_ms", "network_overrides",
					    "vsock_override", "drive_overrides", "takeover", "tls_dir", NULL };
	struct repl_standby_opts o = { .failure_timeout_ms = 1000, .console_out_fd = STDOUT_FILENO };
	int r;
	if ((r = json_check_keys(b, "", keys, err, errlen)) < 0 ||
	    (r = uint_field(b, "failure_timeout_ms", 10, 600000, &o.failure_timeout_ms, err, errlen)) < 0)
		return r;
	json_t *takeover = json_object_get(b, "takeover");
	if (takeover && !json_is_null(takeover) && repl_takeover_parse(json_string_value(takeover), &o.takeover) < 0)
		return error_set(err, errlen, -EINVAL, "takeover: expected \"auto\" or \"external\"");
	if (!(o.listen_url = url_of(b, "listen_url", err, errlen)))
		return -EINVAL;
	if ((r = ctl_tls_field(b, &o.tls, err, errlen)) < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	if (ctl->repl || ctl->mig)
		r = error_set(err, errlen, -EINVAL, "a replication or migration is under way already");
	else
		r = ctl_adopt_begin(ctl, b, "a standby", &ctl->repl_overrides, &ctl->repl_vm, &o.load, &o.console_out_fd,
				    err, errlen);
	if (r == 0 && (r = replication_standby_start(ctl->repl_vm, &ctl->cfg, &o, on_event, ctl, &ctl->repl, err,
						    errlen)) < 0)
		ctl_adopt_abort(ctl, &ctl->repl_overrides, &ctl->repl_vm);
	pthread_mutex_unlock(&ctl->lock);
	tls_creds_free(o.tls);   /* the replication holds its own reference */
	return r;
}

static int primary(struct controller *ctl, json_t *b, char *err, size_t errlen)
{
	static const char *const keys[] = { "role", "peer_url", "checkpoint_interval_ms", "failure_timeout_ms",
					    "on_standby_loss", "mirror_disks", "tls_dir", NULL };
	struct repl_primary_opts o = { .interval_ms = 50, .failure_timeout_ms = 1000, .on_loss = REPL_LOSS_CONTINUE,
				       .mirror_disks = true };
	int r;
	if ((r = json_check_keys(b, "", keys, err, errlen)) < 0 ||
	    (r = uint_field(b, "checkpoint_interval_ms", 1, 60000, &o.interval_ms, err, errlen)) < 0 ||
	    (r = uint_field(b, "failure_timeout_ms", 10, 600000, &o.failure_timeout_ms, err, errlen)) < 0)
		return r;
	if (!(o.peer_url = url_of(b, "peer_url", err, errlen)))
		return -EINVAL;
	json_t *mirror = json_object_get(b, "mirror_disks");
	if (mirror && !json_is_null(mirror) && !json_is_boolean(mirror))
		return error_set(err, errlen, -EINVAL, "mirror_disks: expected a boolean");
	if (mirror && json_is_boolean(mirror))
		o.mirror_disks = json_is_true(mirror);
	json_t *loss = json_object_get(b, "on_standby_loss");
	if (loss && !json_is_null(loss)) {
		const char *s = json_string_value(loss);
		if (!s || (strcmp(s, "continue") && strcmp(s, "stop")))
			return error_set(err, errlen, -EINVAL,
					 "on_standby_loss: expected \"continue\" or \"stop\"");
		o.on_loss = !strcmp(s, "stop") ? REPL_LOSS_STOP : REPL_LOSS_CONTINUE;
	}
	if ((r = ctl_tls_field(b, &o.tls, err, errlen)) < 0)
		return r;
	/* A replication that ended (a standby that took over, a primary that lost its standby or
	 * stopped) gives way: this VM gets a new standby, one generation on (fencing). */
	pthread_mutex_lock(&ctl->lock);
	struct replication *old = NULL;
	if (ctl->repl) {
		struct repl_status st;
		replication_status(ctl->repl, &st);
		if (st.state == REPL_ACTIVE || st.state == REPL_UNPROTECTED || st.state == REPL_STOPPED) {
			old = ctl->repl;
			ctl->repl = NULL;
			o.generation = st.generation + 1;
		}
	}
	pthread_mutex_unlock(&ctl->lock);
	replication_free(old); /* its thread has ended or is ending (not holding the lock) */
	pthread_mutex_lock(&ctl->lock);
	if (ctl->state != INSTANCE_RUNNING || !ctl->vm)
		r = error_set(err, errlen, -EINVAL, "the microVM must be running to be replicated");
	else if (ctl->repl || ctl_migration_active(ctl))
		r = error_set(err, errlen, -EINVAL, "a replication or migration is under way already");
	else if (ctl->snapshot_busy)
		r = error_set(err, errlen, -EINVAL, "a snapshot is being written: try again when it is done");
	struct vm *vm = ctl->vm;
	if (r == 0)
		r = replication_primary_start(vm, &o, on_event, ctl, &ctl->repl, err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	tls_creds_free(o.tls);   /* the replication holds its own reference */
	if (r == 0)
		log_info("replication to %s started (checkpoint every %u ms)", o.peer_url, o.interval_ms);
	return r;
}

int ctl_replication_put(struct controller *ctl, json_t *b, char *err, size_t errlen)
{
	if (!json_is_object(b))
		return error_set(err, errlen, -EINVAL, "expected a JSON object");
	const char *role = json_string_value(json_object_get(b, "role"));
	if (role && !strcmp(role, "standby"))
		return standby(ctl, b, err, errlen);
	if (role && !strcmp(role, "primary"))
		return primary(ctl, b, err, errlen);
	return error_set(err, errlen, -EINVAL, "role: expected \"primary\" or \"standby\"");
}

#define PROMOTE_WAIT_MS 10000   /* the takeover itself: milliseconds; shared disks' locks: up to 1 s */

int ctl_replication_patch(struct controller *ctl, json_t *b, char *err, size_t errlen)
{
	static const char *const keys[] = { "action", NULL };
	if (!json_is_object(b))
		return error_set(err, errlen, -EINVAL, "expected a JSON object");
	int r = json_check_keys(b, "", keys, err, errlen);
	if (r < 0)
		return r;
	const char *action = json_string_value(json_object_get(b, "action"));
	if (!action || strcmp(action, "promote"))
		return error_set(err, errlen, -EINVAL, "action: expected \"promote\"");
	/* Only this (the API) thread replaces or frees the replication. */
	pthread_mutex_lock(&ctl->lock);
	struct replication *repl = ctl->repl;
	pthread_mutex_unlock(&ctl->lock);
	if (!repl)
		return error_set(err, errlen, -EINVAL,
				 "this petrel is not replicating: only a standby can be promoted");
	return replication_promote_ask(repl, err, errlen);
}

/* The replication's status read under ctl->lock: the API thread frees one that has ended only
 * after taking it out under the lock. False once it is gone or the controller shuts down. */
static bool locked_status(void *opaque, struct repl_status *st)
{
	struct controller *ctl = opaque;
	pthread_mutex_lock(&ctl->lock);
	bool any = ctl->repl != NULL && !ctl->shutting_down;
	if (any)
		replication_status(ctl->repl, st);
	pthread_mutex_unlock(&ctl->lock);
	return any;
}

/* The answer waits for the guest to run (on the controller's worker, CTL_ACTION_PROMOTE), not
 * the API thread: GET /replication says "promoting" meanwhile. */
int ctl_replication_promote_wait(struct controller *ctl, char *err, size_t errlen)
{
	return replication_promote_wait(locked_status, ctl, PROMOTE_WAIT_MS, err, errlen);
}

json_t *ctl_replication_status(struct controller *ctl)
{
	struct repl_status st;
	pthread_mutex_lock(&ctl->lock);
	bool any = ctl->repl != NULL;
	if (any)
		replication_status(ctl->repl, &st);
	pthread_mutex_unlock(&ctl->lock);
	if (!any)
		return json_pack("{s:s}", "role", "none");
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:f,s:f,s:f,s:I,s:I,s:f,s:I,s:I,s:i,s:i}",
			      "role", st.role == REPL_PRIMARY ? "primary" : "standby", "state", repl_state_name(st.state),
			      "peer", st.peer, "generation", (json_int_t)st.generation,
			      "checkpoints", (json_int_t)st.checkpoints, "last_pause_us", st.last_pause_us,
			      "mean_pause_us", st.mean_pause_us, "max_pause_us", st.max_pause_us,
			      "last_checkpoint_bytes", (json_int_t)st.last_bytes,
			      "total_bytes", (json_int_t)st.total_bytes,
			      "mean_checkpoint_bytes", st.checkpoints ? (double)st.total_bytes / (double)st.checkpoints : 0.0,
			      "output_held_bytes", (json_int_t)st.output_held,
			      "output_dropped_bytes", (json_int_t)st.output_dropped, "checkpoint_interval_ms", (int)st.interval_ms,
			      "failure_timeout_ms", (int)st.failure_timeout_ms);
	if (o && st.reason[0])
		json_object_set_new(o, "reason", json_string(st.reason));
	if (o && st.state == REPL_ACTIVE)
		json_object_set_new(o, "failover_ms", json_real(st.failover_ms));
	if (o && st.role == REPL_STANDBY) {
		json_object_set_new(o, "takeover", json_string(repl_takeover_name(st.takeover)));
		json_object_set_new(o, "promoting", json_boolean(st.promoting));
	}
	return o;
}

void ctl_replication_free(struct controller *ctl)
{
	replication_free(ctl->repl);
	ctl->repl = NULL;
	vm_free(ctl->repl_vm); /* a standby that never took over: its thread took the machine down */
	ctl->repl_vm = NULL;
	if (ctl->repl_overrides)
		ctl_overrides_free(ctl->repl_overrides);
	free(ctl->repl_overrides);
	ctl->repl_overrides = NULL;
}
