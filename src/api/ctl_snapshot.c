/* PUT /snapshot/create and PUT /snapshot/load: the bodies (Firecracker's SnapshotCreateParams
 * and SnapshotLoadParams, checked strictly) and their work on the controller's worker. */
#include "api/core.h"
#include "agent/agent.h"
#include "util/event_monitor.h"
#include "block/disk.h"
#include "snapshot/snapshot.h"
#include "util/json_util.h"
#include "util/log.h"
#include "vm/vm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* petrel's "consistency" of a create or backup (docs/guest-agent.md). */
enum snap_consistency { CONSISTENCY_AUTO, CONSISTENCY_FILESYSTEM, CONSISTENCY_CRASH };

struct snapshot_request {
	enum snapshot_request_kind kind;
	/* create, backup */
	bool has_consistency;           /* given: a create may take a running VM (pausing it) */
	enum snap_consistency consistency;
	json_t *answer;                 /* {"consistency", "frozen_ms"} (a backup's: and its members,
					 * "mode", "why", "chain_id", "disks"), set on the worker */
	/* create */
	char *state_path, *mem_path;
	bool diff;
	/* load */
	enum snap_mem_backend backend;
	bool resume, track_dirty, clock_realtime;
	bool has_huge_pages;            /* huge_pages given and not "Snapshot" */
	enum guest_mem_backing huge_pages;
	struct ctl_overrides ov;
	/* backup */
	char *backup_dir;
	struct backup_chain_request *chain; /* mode, chain_id, backing (core_backup.c) */
};

void ctl_snapshot_request_free(struct snapshot_request *q)
{
	if (!q)
		return;
	free(q->state_path);
	free(q->backup_dir);
	ctl_backup_free(q->chain);
	free(q->mem_path);
	ctl_overrides_free(&q->ov);
	json_decref(q->answer);
	free(q);
}

/* A create answers 200 with it only when the request named a consistency: Firecracker's clients
 * get their 204. A backup (petrel's own request) always answers its members. */
json_t *ctl_snapshot_take_answer(struct snapshot_request *q)
{
	return q->has_consistency || q->kind == SNAP_REQ_BACKUP ? TAKE_PTR(q->answer) : NULL;
}

static int parse_consistency(json_t *b, struct snapshot_request *q, char *err, size_t errlen)
{
	json_t *v = json_object_get(b, "consistency");
	if (!v || json_is_null(v))
		return 0;
	static const char *const names[] = { [CONSISTENCY_AUTO] = "auto", [CONSISTENCY_FILESYSTEM] = "filesystem",
					     [CONSISTENCY_CRASH] = "crash" };
	const char *s = json_string_value(v);
	for (unsigned i = 0; s && i < ARRAY_SIZE(names); i++)
		if (!strcmp(s, names[i]) && strlen(s) == json_string_length(v)) {
			q->has_consistency = true;
			q->consistency = i;
			return 0;
		}
	return error_set(err, errlen, -EINVAL, "consistency: expected \"auto\", \"filesystem\" or \"crash\"");
}

static int boolean(json_t *o, const char *key, bool *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return error_set(err, errlen, -EINVAL, "%s: expected a boolean", key);
	*out = json_is_true(v);
	return 0;
}

static int parse_create(json_t *b, struct snapshot_request *q, char *err, size_t errlen)
{
	static const char *const keys[] = { "snapshot_path", "mem_file_path", "snapshot_type",
					    "version", "consistency", NULL };
	int r;
	if ((r = json_check_keys(b, "", keys, err, errlen)) < 0 ||
	    (r = parse_consistency(b, q, err, errlen)) < 0 ||
	    (r = ctl_json_dup_str(b, "", "snapshot_path", true, &q->state_path, err, errlen)) < 0 ||
	    (r = ctl_json_dup_str(b, "", "mem_file_path", true, &q->mem_path, err, errlen)) < 0)
		return r;
	json_t *t = json_object_get(b, "snapshot_type");
	if (t && !json_is_null(t)) {
		const char *s = json_string_value(t);
		if (!s || (strcmp(s, "Full") && strcmp(s, "Diff")))
			return error_set(err, errlen, -EINVAL,
					 "snapshot_type: expected \"Full\" or \"Diff\"");
		q->diff = !strcmp(s, "Diff");
	}
	return 0;
}

static int parse_load(json_t *b, struct snapshot_request *q, char *err, size_t errlen)
{
	static const char *const keys[] = { "snapshot_path", "mem_file_path", "mem_backend",
					    "enable_diff_snapshots", "track_dirty_pages", "resume_vm",
					    "network_overrides", "vsock_override", "clock_realtime",
					    "huge_pages", "drive_overrides", NULL };
	int r;
	bool diff_old = false;
	if ((r = json_check_keys(b, "", keys, err, errlen)) < 0 ||
	    (r = ctl_json_dup_str(b, "", "snapshot_path", true, &q->state_path, err, errlen)) < 0 ||
	    (r = boolean(b, "enable_diff_snapshots", &diff_old, err, errlen)) < 0 ||
	    (r = boolean(b, "track_dirty_pages", &q->track_dirty, err, errlen)) < 0 ||
	    (r = boolean(b, "resume_vm", &q->resume, err, errlen)) < 0 ||
	    (r = boolean(b, "clock_realtime", &q->clock_realtime, err, errlen)) < 0)
		return r;
	q->track_dirty |= diff_old;
	json_t *mb = json_object_get(b, "mem_backend"), *mf = json_object_get(b, "mem_file_path");
	if (!mb == !mf)
		return error_set(err, errlen, -EINVAL,
				 "exactly one of mem_backend and mem_file_path must be given");
	if (mf) {
		if ((r = ctl_json_dup_str(b, "", "mem_file_path", true, &q->mem_path, err, errlen)) < 0)
			return r;
	} else {
		static const char *const mkeys[] = { "backend_type", "backend_path", NULL };
		if (!json_is_object(mb))
			return error_set(err, errlen, -EINVAL, "mem_backend: expected an object");
		if ((r = json_check_keys(mb, "mem_backend", mkeys, err, errlen)) < 0 ||
		    (r = ctl_json_dup_str(mb, "mem_backend.", "backend_path", true, &q->mem_path, err, errlen)) < 0)
			return r;
		const char *t = json_string_value(json_object_get(mb, "backend_type"));
		if (!t || (strcmp(t, "File") && strcmp(t, "Uffd") && strcmp(t, "Lazy")))
			return error_set(err, errlen, -EINVAL,
					 "mem_backend.backend_type: expected \"File\", \"Uffd\" "
					 "or petrel's \"Lazy\"");
		q->backend = !strcmp(t, "Uffd") ? SNAP_MEM_UFFD : !strcmp(t, "Lazy") ? SNAP_MEM_LAZY : SNAP_MEM_FILE;
	}
	json_t *hp = json_object_get(b, "huge_pages");
	if (hp && !json_is_null(hp)) {
		/* "Snapshot" (the default) keeps what the snapshot's machine-config says */
		const char *s = json_string_value(hp);
		if (!s || (strcmp(s, "Snapshot") && guest_mem_backing_from_name(s, &q->huge_pages) < 0))
			return error_set(err, errlen, -EINVAL,
					 "huge_pages: expected one of Snapshot, None, Transparent, 2M");
		q->has_huge_pages = strcmp(s, "Snapshot") != 0;
	}
	return ctl_overrides_parse(b, &q->ov, err, errlen);
}

static int parse_backup(json_t *b, struct snapshot_request *q, char *err, size_t errlen)
{
	static const char *const keys[] = { "backup_dir", "consistency", "mode", "chain_id", "backing", NULL };
	int r = json_check_keys(b, "", keys, err, errlen);
	if (r == 0)
		r = parse_consistency(b, q, err, errlen);
	if (r == 0)
		r = ctl_backup_parse(b, &q->chain, err, errlen);
	return r < 0 ? r : ctl_json_dup_str(b, "", "backup_dir", true, &q->backup_dir, err, errlen);
}

int ctl_snapshot_parse(json_t *body, enum snapshot_request_kind kind, struct snapshot_request **out,
		       char *err, size_t errlen)
{
	*out = NULL;
	if (!json_is_object(body))
		return error_set(err, errlen, -EINVAL, "expected a JSON object");
	struct snapshot_request *q = calloc(1, sizeof(*q));
	if (!q)
		return error_oom(err, errlen);
	q->kind = kind;
	int r = kind == SNAP_REQ_LOAD ? parse_load(body, q, err, errlen)
	      : kind == SNAP_REQ_BACKUP ? parse_backup(body, q, err, errlen)
					: parse_create(body, q, err, errlen);
	if (r < 0) {
		ctl_snapshot_request_free(q);
		return r;
	}
	*out = q;
	return 0;
}

/* ---- on the worker ---- */

/* A snapshot of the running VM (create, backup) takes its dirty page log and pauses it: not
 * while a live migration or replication owns both, and none of them may start until it is
 * written (snapshot_busy). ok: the VM is in the state the snapshot needs (else -EINVAL with
 * not_ok). Lock held. */
static int begin_snapshot_locked(struct controller *ctl, bool ok, const char *not_ok, char *err, size_t errlen)
{
	if (ctl_migration_active(ctl) || ctl_replication_active(ctl))
		return error_set(err, errlen, -EBUSY,
				 "a live migration or replication is under way (GET /migration, "
				 "GET /replication): they own the dirty page log a snapshot would take");
	if (!ok)
		return error_set(err, errlen, -EINVAL, "%s", not_ok);
	ctl->snapshot_busy = true;
	return 0;
}

static void end_snapshot(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	ctl->snapshot_busy = false;
	pthread_mutex_unlock(&ctl->lock);
}

/* The save itself, as the frozen run calls it. */
struct save_job {
	struct vm *vm;
	struct snapshot_request *q;
	bool pause;                     /* a create of a running VM: pause around it */
};

static int save(void *opaque, char *err, size_t errlen)
{
	struct save_job *j = opaque;
	struct snapshot_request *q = j->q;
	if (q->kind == SNAP_REQ_BACKUP)   /* pauses and resumes; its members: core_backup.c */
		return ctl_backup_run(j->vm, q->backup_dir, q->chain, err, errlen);
	int r = j->pause ? vm_pause(j->vm) : 0;
	if (r < 0)
		return error_set(err, errlen, r, "cannot pause the VM: %s", strerror(-r));
	struct snapshot_create_opts o = { .state_path = q->state_path, .mem_path = q->mem_path, .diff = q->diff };
	r = snapshot_create(j->vm, &o, err, errlen);
	if (j->pause)
		vm_resume(j->vm);
	return r;
}

/* The save with the consistency asked: through the guest agent's freeze (the thaw on every
 * path: agent_freeze.c) when the guest runs and has an agent, else crash-consistent. "auto"
 * asks the agent only when it answers a ping; "filesystem" fails when the freeze does. */
static int consistent_save(struct controller *ctl, struct save_job *j, bool running, char *err, size_t errlen)
{
	struct snapshot_request *q = j->q;
	pthread_mutex_lock(&ctl->lock);
	struct guest_agent *a = ctl->agent;
	pthread_mutex_unlock(&ctl->lock);
	bool ask = running && a && q->consistency != CONSISTENCY_CRASH;
	char why[256];
	if (ask && q->consistency == CONSISTENCY_AUTO && guest_agent_ping(a, why, sizeof(why)) < 0) {
		log_info("snapshot: crash-consistent: the guest agent does not answer (%s)", why);
		ask = false;
	}
	if (!ask && q->consistency == CONSISTENCY_FILESYSTEM)
		return error_set(err, errlen, -EINVAL, "consistency \"filesystem\" needs %s",
				 !a ? "a guest agent (the definition's \"guest-agent\": {\"enabled\": true})"
				    : "a running microVM: a paused guest's agent cannot freeze its file systems");
	struct guest_freeze_report rep = { 0 };
	int r = ask ? guest_agent_frozen_run(a, q->consistency == CONSISTENCY_FILESYSTEM, save, j, &rep, err, errlen)
		    : save(j, err, errlen);
	/* a thaw that failed after a good save: the snapshot is there, the error says why not
	 * everything is well (the VM runs on) */
	bool saved = r == 0 || (rep.thaw_err < 0 && r == rep.thaw_err);
	if (saved) {
		j->q->answer = rep.frozen ? json_pack("{s:s, s:I}", "consistency", "filesystem", "frozen_ms",
						      (json_int_t)rep.frozen_ms)
					  : json_pack("{s:s}", "consistency", "crash");
		if (rep.frozen)
			log_info("snapshot: filesystem-consistent, %u file system(s) frozen for %llu ms", rep.nfs,
				 (unsigned long long)rep.frozen_ms);
		/* in the state file too (snapshot info), when it was asked for */
		char path[4096], why2[256];
		snprintf(path, sizeof(path), "%s%s", q->kind == SNAP_REQ_BACKUP ? q->backup_dir : q->state_path,
			 q->kind == SNAP_REQ_BACKUP ? "/vm.state" : "");
		if (q->has_consistency &&
		    snapshot_note_consistency(path, rep.frozen ? "filesystem" : "crash", rep.frozen, rep.frozen_ms, why2,
					      sizeof(why2)) < 0)
			log_warn("snapshot: cannot record its consistency in %s: %s", path, why2);
	}
	return r;
}

static int ctl_snapshot_create(struct controller *ctl, struct snapshot_request *q, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	struct vm *vm = ctl->vm;
	/* Firecracker's rule: a paused VM. With petrel's "consistency" a running one too: the
	 * snapshot pauses it itself (between the freeze and the thaw). */
	bool running = ctl->state == INSTANCE_RUNNING;
	int r = begin_snapshot_locked(ctl, vm && (ctl->state == INSTANCE_PAUSED || (running && q->has_consistency)),
				      "the microVM must be paused (PATCH /vm {\"state\": \"Paused\"}) before a snapshot, "
				      "or petrel's \"consistency\" given", err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r;
	struct save_job j = { vm, q, running };
	r = consistent_save(ctl, &j, running, err, errlen);
	end_snapshot(ctl);
	if (q->answer) {
		log_info("snapshot written: %s, %s", q->state_path, q->mem_path);
		event_emit("snapshot", "snapshot-taken", "{s:s,s:s,s:s,s:O}", "snapshot_path", q->state_path,
			   "mem_file_path", q->mem_path, "snapshot_type", q->diff ? "Diff" : "Full", "consistency", q->answer);
	}
	return r;
}

static int ctl_snapshot_load(struct controller *ctl, const struct snapshot_request *q, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = 0;
	if (ctl->state != INSTANCE_NOT_STARTED)
		r = error_set(err, errlen, -EINVAL,
			      "a snapshot can only be loaded into a microVM that was not started");
	else if (vm_config_has_boot_resources(&ctl->cfg))
		r = error_set(err, errlen, -EINVAL,
			      "loading a snapshot is not allowed after configuring "
			      "boot-specific resources (the snapshot brings its own)");
	if (r == 0)
		ctl->state = INSTANCE_STARTING;
	int out_fd = ctl->serial_fd >= 0 ? ctl->serial_fd : STDOUT_FILENO;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r;

	struct snapshot_load_opts o = { .state_path = q->state_path, .mem_path = q->mem_path,
					.backend = q->backend, .track_dirty_pages = q->track_dirty,
					.clock_realtime = q->clock_realtime,
					.has_huge_pages = q->has_huge_pages, .huge_pages = q->huge_pages };
	ctl_overrides_apply(&q->ov, &o);
	struct vm_config cfg;
	struct vm *vm = vm_alloc();
	r = vm ? snapshot_read_config(&o, &cfg, err, errlen) : error_oom(err, errlen);
	bool have_cfg = vm && r == 0;
	if (r == 0) {
		/* GET /vm/config describes the restored VM from here on. */
		pthread_mutex_lock(&ctl->lock);
		cfg.stats = ctl->cfg.stats;
		cfg.mmds_service = ctl_mmds_service_locked(ctl);   /* the snapshot carries no store */
		vm_config_free(&ctl->cfg);
		ctl->cfg = cfg;
		pthread_mutex_unlock(&ctl->lock);
		have_cfg = false;
		if ((r = ctl_agent_prepare(ctl, &ctl->cfg, err, errlen)) == 0)
			r = snapshot_load(vm, &ctl->cfg, &o, out_fd, err, errlen);
		ctl_agent_attach(ctl, vm, &ctl->cfg, r == 0);
	}
	if (have_cfg)
		vm_config_free(&cfg);
	if (r < 0) {
		vm_free(vm);
		pthread_mutex_lock(&ctl->lock);
		if (!have_cfg && vm) { /* the snapshot's definition went in: a later load starts afresh */
			bool stats = ctl->cfg.stats;
			vm_config_free(&ctl->cfg);
			vm_config_init(&ctl->cfg);
			ctl->cfg.stats = stats;
		}
		ctl->state = INSTANCE_NOT_STARTED;
		pthread_mutex_unlock(&ctl->lock);
		return r;
	}
	/* Paused unless resume_vm: the vCPUs park before their first KVM_RUN. */
	vm_set_start_paused(vm, !q->resume);
	serial_set_rate_limiter(vm_serial(vm), &ctl->serial_limit); /* fixed while STARTING */
	r = vm_start(vm);
	if (r == 0 && !q->resume)
		r = vm_pause(vm);
	pthread_mutex_lock(&ctl->lock);
	ctl->vm = vm;
	ctl->state = q->resume ? INSTANCE_RUNNING : INSTANCE_PAUSED;
	pthread_mutex_unlock(&ctl->lock);
	ctl_notify_main(ctl);
	if (r < 0)
		return error_set(err, errlen, -EINVAL, "cannot start the restored microVM: %s", strerror(-r));
	ctl_display_serve(ctl, vm);
	log_info("microVM restored from %s (%s)", q->state_path, q->resume ? "running" : "paused");
	ctl_agent_resumed(ctl);   /* thawed if saved frozen; the guest's clock is the snapshot's */
	event_emit("snapshot", "snapshot-loaded", "{s:s,s:b}", "snapshot_path", q->state_path, "resumed", q->resume);
	return 0;
}

static int ctl_snapshot_backup(struct controller *ctl, struct snapshot_request *q, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	struct vm *vm = ctl->vm;
	bool running = ctl->state == INSTANCE_RUNNING;
	int r = begin_snapshot_locked(ctl, vm && started(ctl), "the microVM is not running", err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0)
		return r;
	struct save_job j = { vm, q, false };
	r = consistent_save(ctl, &j, running, err, errlen);
	end_snapshot(ctl);
	/* the answer: its consistency (consistent_save) and its members (core_backup.c) */
	if (r == 0 && (!q->answer || ctl_backup_answer(q->chain, q->answer) < 0))
		log_warn("backup: no memory for the answer's disks");
	if (q->answer)
		event_emit("snapshot", "backup-taken", "{s:s,s:O?}", "backup_dir", q->backup_dir, "consistency",
			   json_object_get(q->answer, "consistency"));
	return r;
}

int ctl_snapshot_run(struct controller *ctl, struct snapshot_request *q, char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	int r;
	switch (q->kind) {
	case SNAP_REQ_LOAD:
		if ((r = ctl_snapshot_load(ctl, q, err, errlen)) == 0)
			ctl_note_latency(ctl, LAT_LOAD_SNAPSHOT, t0);
		return r;
	case SNAP_REQ_BACKUP:
		return ctl_snapshot_backup(ctl, q, err, errlen);
	default:
		if ((r = ctl_snapshot_create(ctl, q, err, errlen)) == 0)
			ctl_note_latency(ctl, q->diff ? LAT_DIFF_CREATE_SNAPSHOT : LAT_FULL_CREATE_SNAPSHOT, t0);
		return r;
	}
}
