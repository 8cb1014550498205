/* PUT /migration/receive, PUT /migration/send and GET /migration (petrel's, docs/migration.md):
 * the bodies, checked strictly, and the controller's side of a migration: a destination turns
 * into a running instance when the VM arrives, a source stops (exit status 0) once the
 * destination runs its guest. The migration itself runs on its own thread (src/migration). */
#include "api/core.h"
#include "migration/migration.h"
#include "migration/url.h"
#include "util/tls.h"
#include "util/json_util.h"
#include "util/log.h"
#include "vm/vm.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int uint_field(json_t *b, const char *key, unsigned max, unsigned *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(b, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return error_set(err, errlen, -EINVAL, "%s: expected an integer 0-%u", key, max);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static int url_field(json_t *b, const char *key, const char **out, char *err, size_t errlen)
{
	json_t *v = json_object_get(b, key);
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return error_set(err, errlen, -EINVAL, "%s: missing, or not a string", key);
	*out = json_string_value(v);
	return mig_url_check(*out, err, errlen);
}


/* Called on the migration thread when it ends. */
static void receive_done(void *opaque, struct migration *m, int e)
{
	struct controller *ctl = opaque;
	pthread_mutex_lock(&ctl->lock);
	if (e == 0) {
		ctl->vm = ctl->mig_vm;
		ctl->mig_vm = NULL;
		serial_set_rate_limiter(vm_serial(ctl->vm), &ctl->serial_limit);
		ctl->state = INSTANCE_RUNNING;
	} else {
		vm_free(ctl->mig_vm); /* the migration destroyed what it had built */
		ctl->mig_vm = NULL;
		ctl->state = INSTANCE_NOT_STARTED;
	}
	struct vm *vm = e == 0 ? ctl->vm : NULL;
	pthread_mutex_unlock(&ctl->lock);
	if (e == 0)
		ctl_notify_main(ctl);
	if (vm)
		ctl_display_serve(ctl, vm);
	ctl_agent_arrived(ctl, vm, e);   /* the agent's new connection, the guest's clock */
}

int ctl_migration_receive(struct controller *ctl, json_t *b, char *err, size_t errlen)
{
	static const char *const keys[] = { "receiver_url", "timeout_s", "network_overrides", "vsock_override",
					    "drive_overrides", "tls_dir", NULL };
	struct mig_receive_opts o = { .console_out_fd = STDOUT_FILENO };
	int r;
	if (!json_is_object(b))
		return error_set(err, errlen, -EINVAL, "expected a JSON object");
	if ((r = json_check_keys(b, "", keys, err, errlen)) < 0 || (r = url_field(b, "receiver_url", &o.url, err, errlen)) < 0 ||
	    (r = uint_field(b, "timeout_s", 86400, &o.timeout_s, err, errlen)) < 0 ||
	    (r = ctl_tls_field(b, &o.tls, err, errlen)) < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	/* A receive that failed is replaced, also when GET /migration said so before its thread
	 * had put the instance back to not started (its done callback, joined below, does it). */
	struct mig_status st = { 0 };
	if (ctl->mig)
		migration_status(ctl->mig, &st);
	bool failed_receive = ctl->mig && !st.source && st.state == MIG_STATE_FAILED;
	struct migration *old = ctl->state == INSTANCE_NOT_STARTED || failed_receive ? ctl->mig : NULL;
	ctl->mig = old ? NULL : ctl->mig;
	struct ctl_overrides *prev = old ? ctl->mig_overrides : NULL;
	ctl->mig_overrides = old ? NULL : ctl->mig_overrides;
	pthread_mutex_unlock(&ctl->lock);
	/* A failed receive before this one: its thread has ended or is ending (not holding the lock). */
	migration_free(old);
	if (prev)
		ctl_overrides_free(prev);
	free(prev);
	pthread_mutex_lock(&ctl->lock);
	if (ctl->mig)
		r = error_set(err, errlen, -EINVAL, "a migration is being received already");
	else
		r = ctl_adopt_begin(ctl, b, "receiving a migration", &ctl->mig_overrides, &ctl->mig_vm, &o.load,
				    &o.console_out_fd, err, errlen);
	if (r == 0 && (r = ctl_agent_incoming_locked(ctl, &o.load, err, errlen)) < 0)
		ctl_adopt_abort(ctl, &ctl->mig_overrides, &ctl->mig_vm);
	else if (r == 0 && (r = migration_receive_start(ctl->mig_vm, &ctl->cfg, &o, receive_done, ctl, &ctl->mig, err,
						       errlen)) < 0)
		ctl_adopt_abort(ctl, &ctl->mig_overrides, &ctl->mig_vm);
	pthread_mutex_unlock(&ctl->lock);
	tls_creds_free(o.tls);   /* the migration holds its own reference */
	return r;
}

static void send_done(void *opaque, struct migration *m, int e)
{
	struct controller *ctl = opaque;
	if (e)
		return; /* the guest goes on here */
	pthread_mutex_lock(&ctl->lock);
	struct vm *vm = ctl->vm;
	pthread_mutex_unlock(&ctl->lock);
	struct mig_status st;
	migration_status(m, &st);
	vm_request_stop(vm, VM_STOP_USER, 0, "migrated to %s (downtime %.2f ms)", st.peer, st.downtime_ms);
}

int ctl_migration_send(struct controller *ctl, json_t *b, char *err, size_t errlen)
{
	static const char *const keys[] = { "destination_url", "downtime_ms", "mode", "timeout_s", "migrate_disks",
					    "max_bandwidth_mib_s", "tls_dir", NULL };
	struct mig_send_opts o = { .downtime_ms = 300, .mode = MIG_MODE_PRECOPY, .timeout_s = 600 };
	int r;
	if (!json_is_object(b))
		return error_set(err, errlen, -EINVAL, "expected a JSON object");
	if ((r = json_check_keys(b, "", keys, err, errlen)) < 0 ||
	    (r = url_field(b, "destination_url", &o.url, err, errlen)) < 0 ||
	    (r = uint_field(b, "downtime_ms", 600000, &o.downtime_ms, err, errlen)) < 0 ||
	    (r = uint_field(b, "timeout_s", 86400, &o.timeout_s, err, errlen)) < 0 ||
	    (r = uint_field(b, "max_bandwidth_mib_s", 1 << 20, &o.max_bandwidth_mib_s, err, errlen)) < 0)
		return r;
	json_t *mode = json_object_get(b, "mode");
	if (mode && !json_is_null(mode)) {
		const char *s = json_string_value(mode);
		if (!s || (strcmp(s, "precopy") && strcmp(s, "postcopy") && strcmp(s, "auto")))
			return error_set(err, errlen, -EINVAL,
					 "mode: expected \"precopy\", \"postcopy\" or \"auto\"");
		o.mode = !strcmp(s, "postcopy") ? MIG_MODE_POSTCOPY : !strcmp(s, "auto") ? MIG_MODE_AUTO : MIG_MODE_PRECOPY;
	}
	json_t *disks = json_object_get(b, "migrate_disks");
	if (disks && !json_is_null(disks) && !json_is_boolean(disks))
		return error_set(err, errlen, -EINVAL, "migrate_disks: expected a boolean");
	o.migrate_disks = json_is_true(disks);
	if ((r = ctl_tls_field(b, &o.tls, err, errlen)) < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	if (!started(ctl) || !ctl->vm)
		r = error_set(err, errlen, -EINVAL, "the microVM is not running");
	else if (ctl_replication_active(ctl))
		r = error_set(err, errlen, -EINVAL, "the microVM is replicated: it cannot migrate meanwhile");
	else if (ctl->snapshot_busy)
		r = error_set(err, errlen, -EINVAL, "a snapshot is being written: try again when it is done");
	else if (ctl->mig) {
		struct mig_status st;
		migration_status(ctl->mig, &st);
		/* A completed receive is history (the guest runs here since): it gives way, so a VM
		 * that arrived by migration can leave the same way (a cluster moves it on). */
		if (st.state == MIG_STATE_ACTIVE || (st.state == MIG_STATE_COMPLETED && st.source))
			r = error_set(err, errlen, -EINVAL, "a migration is %s",
				      st.state == MIG_STATE_ACTIVE ? "in progress" : "done");
	}
	struct migration *old = r == 0 ? ctl->mig : NULL;
	if (r == 0)
		ctl->mig = NULL;
	struct vm *vm = ctl->vm;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		tls_creds_free(o.tls);
		return r;
	}
	migration_free(old); /* a failed one: its status gives way to the new one */
	struct migration *m;
	r = migration_send_start(vm, &o, send_done, ctl, &m, err, errlen);
	tls_creds_free(o.tls);   /* the migration holds its own reference */
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		ctl->mig = m;
		pthread_mutex_unlock(&ctl->lock);
		log_info("migration to %s started (downtime limit %u ms)", o.url, o.downtime_ms);
	}
	return r;
}

json_t *ctl_migration_status(struct controller *ctl)
{
	struct mig_status st = { 0 };
	pthread_mutex_lock(&ctl->lock);
	bool any = ctl->mig != NULL;
	if (any)
		migration_status(ctl->mig, &st);
	pthread_mutex_unlock(&ctl->lock);
	if (!any)
		return json_pack("{s:s}", "state", "none");
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:I,s:I,s:f,s:f,s:f,s:i,s:i}",
			      "state", mig_state_name(st.state), "role", st.source ? "source" : "destination",
			      "mode", mig_mode_name(st.mode), "peer", st.peer, "iteration", (int)st.iteration,
			      "bytes_sent", (json_int_t)st.bytes_sent, "bytes_remaining", (json_int_t)st.bytes_remaining,
			      "pages_sent", (json_int_t)st.pages_sent, "zero_pages", (json_int_t)st.zero_pages,
			      "dirty_rate_mib_s", st.dirty_rate_mib_s, "bandwidth_mib_s", st.bandwidth_mib_s,
			      "expected_downtime_ms", st.expected_downtime_ms, "downtime_limit_ms", (int)st.downtime_limit_ms,
			      "throttle_percent", (int)st.throttle_percent);
	if (o && st.state == MIG_STATE_COMPLETED) {
		json_object_set_new(o, "downtime_ms", json_real(st.downtime_ms));
		json_object_set_new(o, "total_ms", json_real(st.total_ms));
		json_object_set_new(o, "restore_ms", json_real(st.restore_ms));
	}
	if (o && st.postcopy) {
		json_object_set_new(o, "postcopy", json_true());
		json_object_set_new(o, "postcopy_pages", json_integer((json_int_t)st.postcopy_pushed));
		if (!st.source) {
			json_object_set_new(o, "postcopy_faults", json_integer((json_int_t)st.postcopy_faults));
			json_object_set_new(o, "postcopy_fault_us_p50", json_real(st.postcopy_fault_us_p50));
			json_object_set_new(o, "postcopy_fault_us_max", json_real(st.postcopy_fault_us_max));
		}
	}
	if (o && st.state == MIG_STATE_FAILED)
		json_object_set_new(o, "reason", json_string(st.reason));
	return o;
}

void ctl_migration_free(struct controller *ctl)
{
	migration_free(ctl->mig);
	ctl->mig = NULL;
	vm_free(ctl->mig_vm);
	ctl->mig_vm = NULL;
	if (ctl->mig_overrides)
		ctl_overrides_free(ctl->mig_overrides);
	free(ctl->mig_overrides);
	ctl->mig_overrides = NULL;
}
