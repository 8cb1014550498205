/* The controller: VM resources before the start, the VM and its actions after. See controller.h. */
#include "api/controller.h"
#include "devices/virtio/blk.h"
#include "api/router.h"
#include "util/util.h"
#include "vm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int oom(char *err, size_t errlen)
{
	return fail(err, errlen, -ENOMEM, "out of memory");
}

const char *instance_state_name(enum instance_state s)
{
	switch (s) {
	case INSTANCE_RUNNING: return "Running";
	case INSTANCE_PAUSED: return "Paused";
	case INSTANCE_STOPPED: return "Running";   /* stopping: the process is about to exit */
	default: return "Not started";
	}
}

/* ---- lifecycle ---- */

int ctl_init(struct controller *ctl, const char *id)
{
	memset(ctl, 0, sizeof(*ctl));
	snprintf(ctl->id, sizeof(ctl->id), "%s", id ? id : CTL_DEFAULT_ID);
	vm_config_init(&ctl->cfg);
	metrics_init(&ctl->metrics);
	ctl->serial_fd = -1;
	ctl->logger.level = log_get_level();
	ctl->jobs_tail = &ctl->jobs;
	ctl->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ctl->event_fd < 0)
		return -errno;
	ctl->api_counts = api_counters_new();
	if (!ctl->api_counts)
		return -ENOMEM;
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctl->cond, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

void ctl_free(struct controller *ctl)
{
	ctl_stop_worker(ctl);
	if (ctl->vm && !ctl->vm_joined) {
		/* petrel is leaving before the guest stopped (a signal raced with the start). */
		vm_request_stop(ctl->vm, VM_STOP_USER, 0, "petrel is exiting");
		vm_join(ctl->vm);
	}
	if (ctl->vm) {
		vm_destroy(ctl->vm);
		free(ctl->vm);
		ctl->vm = NULL;
	}
	vm_config_free(&ctl->cfg);
	metrics_free(&ctl->metrics);
	json_decref(ctl->api_counts);
	ctl->api_counts = NULL;
	if (ctl->serial_fd >= 0)
		close(ctl->serial_fd);
	ctl->serial_fd = -1;
	free(ctl->serial_path);
	free(ctl->logger.log_path);
	free(ctl->logger.module);
	ctl->serial_path = ctl->logger.log_path = ctl->logger.module = NULL;
	if (ctl->event_fd >= 0)
		close(ctl->event_fd);
	ctl->event_fd = -1;
	pthread_cond_destroy(&ctl->cond);
	pthread_mutex_destroy(&ctl->lock);
}

static bool started(const struct controller *ctl)
{
	return ctl->state == INSTANCE_RUNNING || ctl->state == INSTANCE_PAUSED;
}

/* Pre-boot-only requests: the caller holds the lock. */
static int check_not_started(const struct controller *ctl, const char *what, char *err,
			     size_t errlen)
{
	if (ctl->state == INSTANCE_NOT_STARTED)
		return 0;
	if (ctl->state == INSTANCE_STARTING)
		return fail(err, errlen, -EBUSY, "%s cannot be changed: the microVM is starting", what);
	return fail(err, errlen, -EBUSY, "%s cannot be changed after the microVM has started", what);
}

static int check_start_locked(struct controller *ctl, char *err, size_t errlen)
{
	if (ctl->state == INSTANCE_STARTING)
		return fail(err, errlen, -EBUSY, "the microVM is already starting");
	if (ctl->state != INSTANCE_NOT_STARTED)
		return fail(err, errlen, -EBUSY, "the microVM has already been started");
	if (!ctl->cfg.kernel_path)
		return fail(err, errlen, -EINVAL, "cannot start the microVM: no boot source "
			    "(PUT /boot-source with a kernel_image_path first)");
	/* Devices the VM cannot attach (yet) make vm_create fail with a message naming them:
	 * a configured device is never silently left out. */
	char msg[256];
	if (vm_config_validate(&ctl->cfg, msg, sizeof(msg)) < 0)
		return fail(err, errlen, -EINVAL, "cannot start the microVM: %s", msg);
	return 0;
}

int ctl_check_start(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = check_start_locked(ctl, err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_check_vm_state_change(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = started(ctl) ? 0 : fail(err, errlen, -EINVAL, "the microVM is not running (%s)",
					 ctl->state == INSTANCE_STOPPED ? "it has stopped" :
					 "PUT /actions InstanceStart first");
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

void ctl_notify_main(struct controller *ctl)
{
	uint64_t one = 1;
	if (write(ctl->event_fd, &one, sizeof(one)) < 0)
		log_warn("cannot wake the main thread: %s", strerror(errno));
}

int ctl_start_vm(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = check_start_locked(ctl, err, errlen);
	if (r < 0) {
		pthread_mutex_unlock(&ctl->lock);
		return r;
	}
	ctl->state = INSTANCE_STARTING;
	int out_fd = ctl->serial_fd >= 0 ? ctl->serial_fd : STDOUT_FILENO;
	bool boot_timer = ctl->boot_timer_enabled;
	pthread_mutex_unlock(&ctl->lock);

	/* From here on nobody changes ctl->cfg (state is STARTING), so it is read unlocked. */
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm) {
		pthread_mutex_lock(&ctl->lock);
		ctl->state = INSTANCE_NOT_STARTED;
		pthread_mutex_unlock(&ctl->lock);
		return oom(err, errlen);
	}
	if (boot_timer)
		boot_timer_init(&ctl->boot_timer);
	char why[512];
	log_capture_begin(why, sizeof(why));
	r = vm_create(vm, &ctl->cfg, out_fd);
	if (r == 0 && boot_timer) {
		r = bus_register(&vm->mmio, BOOT_TIMER_MMIO_BASE, BOOT_TIMER_MMIO_LEN, "boot-timer",
				 boot_timer_read, boot_timer_write, &ctl->boot_timer);
		if (r < 0)
			log_error("cannot place the boot timer at 0x%llx: %s",
				  (unsigned long long)BOOT_TIMER_MMIO_BASE, strerror(-r));
	}
	log_capture_end();
	if (r < 0) {
		vm_destroy(vm);
		free(vm);
		pthread_mutex_lock(&ctl->lock);
		ctl->state = INSTANCE_NOT_STARTED;
		pthread_mutex_unlock(&ctl->lock);
		if (r == -ENOMEM)
			return oom(err, errlen);
		return fail(err, errlen, -EINVAL, "cannot start the microVM: %s",
			    why[0] ? why : strerror(-r));
	}
	r = vm_start(vm);   /* on failure the VM is already stopping: main joins it */
	pthread_mutex_lock(&ctl->lock);
	ctl->vm = vm;
	ctl->state = INSTANCE_RUNNING;
	pthread_mutex_unlock(&ctl->lock);
	ctl_notify_main(ctl);
	if (r < 0)
		return fail(err, errlen, -ENOMEM, "cannot start the vCPU threads: %s", strerror(-r));
	log_info("microVM started: %u vCPU(s), %llu MiB, kernel %s", ctl->cfg.vcpus,
		 (unsigned long long)ctl->cfg.mem_mib, ctl->cfg.kernel_path);
	return 0;
}

struct vm *ctl_running_vm(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	struct vm *vm = started(ctl) ? ctl->vm : NULL;
	pthread_mutex_unlock(&ctl->lock);
	return vm;
}

static json_t *counters_locked(struct controller *ctl);

int ctl_finish(struct controller *ctl)
{
	struct vm *vm = ctl->vm;   /* written before event_fd fired; main reads it after */
	int status = vm ? vm_join(vm) : 0;
	pthread_mutex_lock(&ctl->lock);
	ctl->vm_joined = vm != NULL;
	ctl->state = INSTANCE_STOPPED;
	if (metrics_configured(&ctl->metrics)) {
		json_t *c = counters_locked(ctl);
		if (c)
			metrics_flush(&ctl->metrics, c, ctl->id);
		json_decref(c);
	}
	pthread_mutex_unlock(&ctl->lock);
	return status;
}

/* ---- the worker ---- */

static void run_state_change(struct controller *ctl, struct ctl_job *job)
{
	bool pause = job->action == CTL_ACTION_PAUSE;
	pthread_mutex_lock(&ctl->lock);
	if (!started(ctl)) {
		pthread_mutex_unlock(&ctl->lock);
		job->done(job->opaque, -EINVAL, "the microVM is not running");
		return;
	}
	struct vm *vm = ctl->vm;
	pthread_mutex_unlock(&ctl->lock);
	/* vm_pause waits for every vCPU to leave KVM_RUN: the reason this runs here and not on
	 * the API thread. */
	int r = pause ? vm_pause(vm) : vm_resume(vm);
	pthread_mutex_lock(&ctl->lock);
	if (r == 0 && started(ctl))
		ctl->state = pause ? INSTANCE_PAUSED : INSTANCE_RUNNING;
	pthread_mutex_unlock(&ctl->lock);
	if (r < 0) {
		job->done(job->opaque, -EINVAL, "the microVM is shutting down");
		return;
	}
	log_info("microVM %s", pause ? "paused" : "resumed");
	job->done(job->opaque, 0, NULL);
}

static void run_job(struct controller *ctl, struct ctl_job *job)
{
	char msg[640];
	switch (job->action) {
	case CTL_ACTION_START: {
		int r = ctl_start_vm(ctl, msg, sizeof(msg));
		job->done(job->opaque, r, r < 0 ? msg : NULL);
		break;
	}
	case CTL_ACTION_PAUSE:
	case CTL_ACTION_RESUME:
		run_state_change(ctl, job);
		break;
	case CTL_ACTION_SNAPSHOT: {
		int r = ctl_snapshot_is_load(job->arg) ? ctl_snapshot_load(ctl, job->arg, msg, sizeof(msg))
						       : ctl_snapshot_create(ctl, job->arg, msg, sizeof(msg));
		job->done(job->opaque, r, r < 0 ? msg : NULL);
		break;
	}
	}
}

static void periodic_flush_locked(struct controller *ctl)
{
	if (!metrics_configured(&ctl->metrics)) {
		ctl->next_flush_ns = 0;
		return;
	}
	json_t *c = counters_locked(ctl);
	if (c && metrics_flush(&ctl->metrics, c, ctl->id) < 0)
		log_debug("periodic metrics flush failed");
	json_decref(c);
	ctl->next_flush_ns = now_ns() + METRICS_FLUSH_INTERVAL_NS;
}

static void *worker_main(void *arg)
{
	struct controller *ctl = arg;
	pthread_setname_np(pthread_self(), "fc_vmm");
	pthread_mutex_lock(&ctl->lock);
	for (;;) {
		while (!ctl->jobs && !ctl->shutting_down) {
			if (!ctl->next_flush_ns) {
				pthread_cond_wait(&ctl->cond, &ctl->lock);
				continue;
			}
			uint64_t now = now_ns();
			if (now >= ctl->next_flush_ns) {
				periodic_flush_locked(ctl);
				continue;
			}
			struct timespec ts = { (time_t)(ctl->next_flush_ns / 1000000000ull),
					       (long)(ctl->next_flush_ns % 1000000000ull) };
			pthread_cond_timedwait(&ctl->cond, &ctl->lock, &ts);
		}
		if (!ctl->jobs)
			break;   /* shutting down with nothing queued */
		struct ctl_job *job = ctl->jobs;
		ctl->jobs = job->next;
		if (!ctl->jobs)
			ctl->jobs_tail = &ctl->jobs;
		bool refuse = ctl->shutting_down;
		pthread_mutex_unlock(&ctl->lock);
		if (refuse)
			job->done(job->opaque, -ESHUTDOWN, "petrel is shutting down");
		else
			run_job(ctl, job);
		if (job->action == CTL_ACTION_SNAPSHOT)
			ctl_snapshot_request_free(job->arg);
		free(job);
		pthread_mutex_lock(&ctl->lock);
	}
	pthread_mutex_unlock(&ctl->lock);
	return NULL;
}

int ctl_start_worker(struct controller *ctl)
{
	int r = pthread_create(&ctl->worker, NULL, worker_main, ctl);
	if (r)
		return -r;
	ctl->worker_started = true;
	return 0;
}

void ctl_stop_worker(struct controller *ctl)
{
	if (!ctl->worker_started)
		return;
	pthread_mutex_lock(&ctl->lock);
	ctl->shutting_down = true;
	pthread_cond_broadcast(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
	pthread_join(ctl->worker, NULL);
	ctl->worker_started = false;
}

int ctl_submit(struct controller *ctl, enum ctl_action action, ctl_done_fn done, void *opaque)
{
	return ctl_submit_arg(ctl, action, NULL, done, opaque);
}

int ctl_submit_arg(struct controller *ctl, enum ctl_action action, void *arg, ctl_done_fn done,
		   void *opaque)
{
	struct ctl_job *job = calloc(1, sizeof(*job));
	if (!job)
		return -ENOMEM;
	job->action = action;
	job->arg = arg;
	job->done = done;
	job->opaque = opaque;
	pthread_mutex_lock(&ctl->lock);
	if (ctl->shutting_down || !ctl->worker_started) {
		pthread_mutex_unlock(&ctl->lock);
		free(job);
		return -ESHUTDOWN; /* the caller still owns arg */
	}
	*ctl->jobs_tail = job;
	ctl->jobs_tail = &job->next;
	pthread_cond_broadcast(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
	return 0;
}

/* ---- pre-boot resources ---- */

/* Parse one section of the config-file format with vm_config_parse_json (so the API and
 * `petrel run --config` accept exactly the same objects) into a scratch config. */
static int parse_section(const char *section, json_t *body, struct vm_config *tmp, char *err,
			 size_t errlen)
{
	vm_config_init(tmp);
	json_t *doc = json_object();
	if (!doc || json_object_set(doc, section, body) < 0) {
		json_decref(doc);
		return oom(err, errlen);
	}
	char *text = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(doc);
	if (!text)
		return oom(err, errlen);
	int r = vm_config_parse_json(text, tmp, err, errlen);
	free(text);
	if (r < 0)
		vm_config_free(tmp);
	return r == -ENOMEM ? -ENOMEM : r < 0 ? -EINVAL : 0;
}

static void take(char **dst, char **src)
{
	free(*dst);
	*dst = *src;
	*src = NULL;
}

/* The file must exist and be readable (and writable when asked) when it is configured, like
 * Firecracker checks at PUT time, so mistakes surface before InstanceStart. */
static int check_file(struct controller *ctl, const char *what, const char *path, bool write,
		      char *err, size_t errlen)
{
	if (ctl->dry_run)
		return 0;
	int fd = open(path, (write ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return fail(err, errlen, -EINVAL, "%s '%s' cannot be opened%s: %s", what, path,
			    write ? " for writing" : "", strerror(errno));
	struct stat st;
	int r = fstat(fd, &st);
	close(fd);
	if (r == 0 && S_ISDIR(st.st_mode))
		return fail(err, errlen, -EINVAL, "%s '%s' is a directory", what, path);
	return 0;
}

int ctl_put_boot_source(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r = parse_section("boot-source", body, &tmp, err, errlen);
	if (r < 0)
		return r;
	if ((r = check_file(ctl, "kernel image", tmp.kernel_path, false, err, errlen)) < 0 ||
	    (tmp.initrd_path && (r = check_file(ctl, "initrd", tmp.initrd_path, false, err, errlen)) < 0)) {
		vm_config_free(&tmp);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	r = check_not_started(ctl, "the boot source", err, errlen);
	if (r == 0) {
		/* PUT replaces the whole boot source: what the body leaves out is cleared. */
		take(&ctl->cfg.kernel_path, &tmp.kernel_path);
		take(&ctl->cfg.initrd_path, &tmp.initrd_path);
		take(&ctl->cfg.cmdline, &tmp.cmdline);
	}
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}

static json_t *machine_config_json(const struct vm_config *c)
{
	return json_pack("{s:i, s:I, s:b, s:s, s:b, s:s}", "vcpu_count", (int)c->vcpus,
			 "mem_size_mib", (json_int_t)c->mem_mib, "smt", c->smt, "cpu_template",
			 c->cpu_template ? c->cpu_template : "None", "track_dirty_pages",
			 c->track_dirty_pages, "huge_pages", "None");
}

int ctl_put_machine_config(struct controller *ctl, json_t *body, bool patch, char *err,
			   size_t errlen)
{
	if (!json_is_object(body))
		return fail(err, errlen, -EINVAL, "machine-config: expected an object");
	json_t *doc = NULL;
	int r;
	if (patch) {
		/* PATCH: the fields given replace the current ones (null means "not given"). */
		size_t given = 0;
		const char *key;
		json_t *val;
		json_object_foreach(body, key, val)
			given += !json_is_null(val);
		if (!given)
			return fail(err, errlen, -EINVAL, "machine-config: empty PATCH request (give at "
				    "least one field to change)");
		pthread_mutex_lock(&ctl->lock);
		r = check_not_started(ctl, "the machine configuration", err, errlen);
		doc = r < 0 ? NULL : machine_config_json(&ctl->cfg);
		pthread_mutex_unlock(&ctl->lock);
		if (r < 0)
			return r;
		if (!doc)
			return oom(err, errlen);
		json_object_foreach(body, key, val) {
			if (!json_is_null(val) && json_object_set(doc, key, val) < 0) {
				json_decref(doc);
				return oom(err, errlen);
			}
		}
	} else {
		doc = json_incref(body);
	}
	struct vm_config tmp;
	r = parse_section("machine-config", doc, &tmp, err, errlen);
	json_decref(doc);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	r = check_not_started(ctl, "the machine configuration", err, errlen);
	if (r == 0) {
		/* PUT: optional fields left out go back to their defaults (tmp holds them). */
		ctl->cfg.vcpus = tmp.vcpus;
		ctl->cfg.mem_mib = tmp.mem_mib;
		ctl->cfg.smt = tmp.smt;
		ctl->cfg.track_dirty_pages = tmp.track_dirty_pages;
		take(&ctl->cfg.cpu_template, &tmp.cpu_template);
	}
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}

int ctl_put_cpu_config(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r = parse_section("cpu-config", body, &tmp, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	r = check_not_started(ctl, "the CPU configuration", err, errlen);
	if (r == 0)
		take(&ctl->cfg.cpu_config_json, &tmp.cpu_config_json);
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}

static int check_path_id(const char *field, const char *body_id, const char *path_id, char *err,
			 size_t errlen)
{
	if (strcmp(body_id, path_id) != 0)
		return fail(err, errlen, -EINVAL, "%s: '%s' in the body does not match '%s' in the "
			    "path", field, body_id, path_id);
	return 0;
}

int ctl_put_drive(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct drive_config d;
	int r = drive_config_from_json(body, NULL, &d, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = check_path_id("drive_id", d.drive_id, id, err, errlen)) < 0 ||
	    (r = check_file(ctl, "drive backing file", d.path_on_host, !d.is_read_only, err, errlen)) < 0) {
		drive_config_free(&d);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	struct vm_config *cfg = &ctl->cfg;
	r = check_not_started(ctl, "drives", err, errlen);
	int found = -1;
	for (unsigned i = 0; r == 0 && i < cfg->ndrives; i++) {
		if (!strcmp(cfg->drives[i].drive_id, d.drive_id))
			found = (int)i;
		else if (d.is_root_device && cfg->drives[i].is_root_device)
			r = fail(err, errlen, -EINVAL, "drive '%s' cannot be the root device: '%s' "
				 "already is", d.drive_id, cfg->drives[i].drive_id);
	}
	if (r == 0 && found >= 0) {
		/* PUT on an existing id replaces that drive in place (keeping its position). */
		drive_config_free(&cfg->drives[found]);
		cfg->drives[found] = d;
		memset(&d, 0, sizeof(d));
	} else if (r == 0) {
		char msg[256];
		r = vm_config_add_drive(cfg, &d, msg, sizeof(msg));
		if (r < 0)
			r = fail(err, errlen, -EINVAL, "%s", msg);
	}
	pthread_mutex_unlock(&ctl->lock);
	drive_config_free(&d);
	return r;
}

/* PATCH of a device: only on a running microVM, only for a device it has. */
static int patch_device(struct controller *ctl, const char *kind, bool exists, const char *id,
			char *err, size_t errlen)
{
	if (!started(ctl))
		return fail(err, errlen, -EINVAL, "PATCH of a %s is only possible after the microVM "
			    "has started (use PUT before)", kind);
	if (!exists)
		return fail(err, errlen, -EINVAL, "no %s with id '%s'", kind, id);
	return 0;
}

/* PATCH path_on_host: the running virtio-blk device switches to the new file. */
static int swap_drive_file(struct controller *ctl, int idx, const char *path, char *err,
			   size_t errlen)
{
	struct drive_config *dc = &ctl->cfg.drives[idx];
	struct vm_devices *vd = &ctl->vm->devs;
	for (unsigned i = 0; i < vd->nblk; i++) {
		struct virtio_blk *b = vd->blk[i];
		if (strncmp(b->st.id, dc->drive_id, VIRTIO_BLK_ID_BYTES) != 0)
			continue;
		int r = virtio_blk_swap_file(b, path);
		if (r < 0)
			return fail(err, errlen, -EINVAL, "path_on_host: cannot use '%s': %s", path,
				    strerror(-r));
		char *copy = strdup(path);
		if (!copy)
			return oom(err, errlen);
		free(dc->path_on_host);
		dc->path_on_host = copy;
		return 0;
	}
	return fail(err, errlen, -EINVAL, "drive '%s' has no running device", dc->drive_id);
}

int ctl_patch_drive(struct controller *ctl, const char *id, json_t *body, char *err,
		    size_t errlen)
{
	struct drive_update u;
	int r = drive_update_from_json(body, NULL, &u, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = check_path_id("drive_id", u.drive_id, id, err, errlen);
	if (r == 0 && u.path_on_host)
		r = check_file(ctl, "drive backing file", u.path_on_host, false, err, errlen);
	if (r == 0 && !u.path_on_host && !u.rate_limiter.present)
		r = fail(err, errlen, -EINVAL, "nothing to update: give path_on_host and/or "
			 "rate_limiter");
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		int idx = -1;
		for (unsigned i = 0; i < ctl->cfg.ndrives; i++)
			if (!strcmp(ctl->cfg.drives[i].drive_id, id))
				idx = (int)i;
		r = patch_device(ctl, "drive", idx >= 0, id, err, errlen);
		if (r == 0 && u.path_on_host)
			r = swap_drive_file(ctl, idx, u.path_on_host, err, errlen);
		if (r == 0 && u.rate_limiter.present) {
			/* Kept (GET /vm/config shows it), like at PUT; not enforced yet. */
			ctl->cfg.drives[idx].rate_limiter = u.rate_limiter;
		}
		pthread_mutex_unlock(&ctl->lock);
	}
	drive_update_free(&u);
	return r;
}

int ctl_put_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct net_config n;
	int r = net_config_from_json(body, NULL, &n, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = check_path_id("iface_id", n.iface_id, id, err, errlen)) < 0) {
		net_config_free(&n);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	struct vm_config *cfg = &ctl->cfg;
	r = check_not_started(ctl, "network interfaces", err, errlen);
	int found = -1;
	for (unsigned i = 0; r == 0 && i < cfg->nnets; i++) {
		struct net_config *o = &cfg->nets[i];
		if (!strcmp(o->iface_id, n.iface_id)) {
			found = (int)i;
			continue;
		}
		if (!strcmp(o->host_dev_name, n.host_dev_name))
			r = fail(err, errlen, -EINVAL, "host_dev_name: '%s' is already used by network "
				 "interface '%s'", n.host_dev_name, o->iface_id);
		else if (n.has_mac && o->has_mac && !memcmp(n.guest_mac, o->guest_mac, 6))
			r = fail(err, errlen, -EINVAL, "guest_mac: already used by network interface "
				 "'%s'", o->iface_id);
	}
	if (r == 0 && found >= 0) {
		net_config_free(&cfg->nets[found]);
		cfg->nets[found] = n;
		memset(&n, 0, sizeof(n));
	} else if (r == 0) {
		char msg[256];
		r = vm_config_add_net(cfg, &n, msg, sizeof(msg));
		if (r < 0)
			r = fail(err, errlen, -EINVAL, "%s", msg);
	}
	pthread_mutex_unlock(&ctl->lock);
	net_config_free(&n);
	return r;
}

int ctl_patch_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct net_update u;
	int r = net_update_from_json(body, NULL, &u, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = check_path_id("iface_id", u.iface_id, id, err, errlen);
	if (r == 0) {
		pthread_mutex_lock(&ctl->lock);
		bool exists = false;
		for (unsigned i = 0; i < ctl->cfg.nnets; i++)
			exists |= !strcmp(ctl->cfg.nets[i].iface_id, id);
		r = patch_device(ctl, "network interface", exists, id, err, errlen);
		if (r == 0)   /* rate limiters are not enforced yet: nothing to update live */
			r = fail(err, errlen, -EINVAL, "updating the rate limiters of a running network "
				 "interface is not supported yet");
		pthread_mutex_unlock(&ctl->lock);
	}
	net_update_free(&u);
	return r;
}

int ctl_put_vsock(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vsock_config v;
	int r = vsock_config_from_json(body, NULL, &v, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = check_not_started(ctl, "the vsock device", err, errlen);
	if (r == 0) {
		vsock_config_free(&ctl->cfg.vsock);
		ctl->cfg.vsock = v;
		ctl->cfg.has_vsock = true;
		memset(&v, 0, sizeof(v));
	}
	pthread_mutex_unlock(&ctl->lock);
	vsock_config_free(&v);
	return r;
}

int ctl_put_entropy(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct entropy_config e;
	int r = entropy_config_from_json(body, NULL, &e, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = check_not_started(ctl, "the entropy device", err, errlen);
	if (r == 0) {
		entropy_config_free(&ctl->cfg.entropy);
		ctl->cfg.entropy = e;
		ctl->cfg.has_entropy = true;
		memset(&e, 0, sizeof(e));
	}
	pthread_mutex_unlock(&ctl->lock);
	entropy_config_free(&e);
	return r;
}

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
	if (!v)
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
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return fail(err, errlen, -EINVAL, "%s: expected a boolean", key);
	*out = json_is_true(v);
	return 0;
}

static const char *level_name(enum log_level l)
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
	log_info("logger configured: level %s%s%s", level_name(level), path ? ", to " : "",
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
	if (props) {
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
	if (json_object_get(body, "rate_limiter"))
		return fail(err, errlen, -EINVAL, "rate_limiter: rate limiting the serial console is "
			    "not supported yet");
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
	r = check_not_started(ctl, "the serial console", err, errlen);
	if (r == 0 && (r = dup_opt(&ctl->serial_path, path)) < 0)
		r = oom(err, errlen);
	if (r == 0) {
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

/* ---- actions that do not wait for the guest ---- */

int ctl_send_ctrl_alt_del(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r;
	if (!started(ctl))
		r = fail(err, errlen, -EINVAL, "SendCtrlAltDel needs a running microVM (%s)",
			 ctl->state == INSTANCE_STOPPED ? "it has stopped" : "it has not started");
	else if (i8042_send_ctrl_alt_del(&ctl->vm->i8042) < 0)
		r = fail(err, errlen, -EINVAL, "the guest keyboard buffer is full (the guest is not "
			 "reading the i8042)");
	else
		r = 0;
	pthread_mutex_unlock(&ctl->lock);
	if (r == 0)
		log_info("sent Ctrl-Alt-Del to the guest");
	return r;
}

int ctl_flush_metrics(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r;
	if (!metrics_configured(&ctl->metrics)) {
		r = fail(err, errlen, -EINVAL, "metrics are not configured (PUT /metrics or "
			 "--metrics-path first)");
	} else {
		json_t *c = counters_locked(ctl);
		r = c ? metrics_flush(&ctl->metrics, c, ctl->id) : -ENOMEM;
		json_decref(c);
		if (r == -ENOMEM)
			oom(err, errlen);
		else if (r < 0)
			r = fail(err, errlen, -EIO, "cannot write metrics to %s: %s", ctl->metrics.path,
				 r == -EAGAIN ? "the pipe is full" : strerror(-r));
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

/* ---- metrics ---- */

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

	json_t *c = json_deep_copy(ctl->api_counts);
	json_t *uart = json_object(), *kbd = json_object(), *vcpu = json_object(),
	       *exits = json_object(), *emu = json_object();
	if (!c || !uart || !kbd || !vcpu || !exits || !emu)
		goto fail;
	json_object_set_new(uart, "tx_bytes", json_integer(vm ? (json_int_t)load64(&vm->serial.tx_bytes) : 0));
	json_object_set_new(uart, "rx_bytes", json_integer(vm ? (json_int_t)load64(&vm->serial.rx_bytes) : 0));
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
	json_t *blk = json_pack("{s:I, s:I, s:I, s:I}", "read_count", (json_int_t)0, "write_count",
				(json_int_t)0, "flush_count", (json_int_t)0, "io_errors", (json_int_t)0);
	if (!blk)
		goto fail;
	for (unsigned i = 0; vm && i < vm->devs.nblk && i < ctl->cfg.ndrives; i++) {
		const struct virtio_blk *b = vm->devs.blk[i];
		json_int_t v[4] = { (json_int_t)load64(&b->reads), (json_int_t)load64(&b->writes),
				    (json_int_t)load64(&b->flushes), (json_int_t)load64(&b->errors) };
		static const char *const names[4] = { "read_count", "write_count", "flush_count",
						      "io_errors" };
		json_t *one = json_object();
		for (int k = 0; one && k < 4; k++) {
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

json_t *ctl_metrics_counters(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *c = counters_locked(ctl);
	pthread_mutex_unlock(&ctl->lock);
	return c;
}

/* ---- GET ---- */

json_t *ctl_instance_info(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "id", ctl->id, "state",
			      instance_state_name(ctl->state), "vmm_version", PETREL_VERSION,
			      "app_name", "petrel");
	pthread_mutex_unlock(&ctl->lock);
	return o;
}

json_t *ctl_machine_config(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = machine_config_json(&ctl->cfg);
	pthread_mutex_unlock(&ctl->lock);
	return o;
}

static int set_opt_string(json_t *o, const char *key, const char *val)
{
	return val ? json_object_set_new(o, key, json_string(val)) : 0;
}

static json_t *vm_config_locked(struct controller *ctl)
{
	const struct vm_config *c = &ctl->cfg;
	json_t *o = json_object(), *drives = json_array(), *nets = json_array();
	json_t *mc = machine_config_json(c);
	int err = !o || !drives || !nets || !mc;
	if (!err && c->kernel_path) {
		json_t *bs = json_object();
		err = !bs || set_opt_string(bs, "kernel_image_path", c->kernel_path) < 0 ||
		      set_opt_string(bs, "initrd_path", c->initrd_path) < 0 ||
		      set_opt_string(bs, "boot_args", c->cmdline) < 0 ||
		      json_object_set_new(o, "boot-source", bs) < 0;
	}
	if (!err)
		err = json_object_set_new(o, "machine-config", mc) < 0;
	mc = NULL;
	if (!err && c->cpu_config_json) {
		json_t *cc = json_loads(c->cpu_config_json, 0, NULL);
		err = !cc || json_object_set_new(o, "cpu-config", cc) < 0;
	}
	for (unsigned i = 0; !err && i < c->ndrives; i++) {
		json_t *d = drive_config_to_json(&c->drives[i]);
		err = !d || json_array_append_new(drives, d) < 0;
	}
	for (unsigned i = 0; !err && i < c->nnets; i++) {
		json_t *n = net_config_to_json(&c->nets[i]);
		err = !n || json_array_append_new(nets, n) < 0;
	}
	if (!err) {
		err = json_object_set_new(o, "drives", drives) < 0 ||
		      json_object_set_new(o, "network-interfaces", nets) < 0;
		drives = nets = NULL;
	}
	if (!err && c->has_vsock) {
		json_t *v = vsock_config_to_json(&c->vsock);
		err = !v || json_object_set_new(o, "vsock", v) < 0;
	}
	if (!err && c->has_entropy) {
		json_t *e = entropy_config_to_json(&c->entropy);
		err = !e || json_object_set_new(o, "entropy", e) < 0;
	}
	if (!err && ctl->logger.configured) {
		const struct logger_settings *l = &ctl->logger;
		json_t *lg = json_pack("{s:s, s:b, s:b}", "level", level_name(l->level), "show_level",
				       l->show_level, "show_log_origin", l->show_log_origin);
		err = !lg || set_opt_string(lg, "log_path", l->log_path) < 0 ||
		      set_opt_string(lg, "module", l->module) < 0 ||
		      json_object_set_new(o, "logger", lg) < 0;
	}
	if (!err && metrics_configured(&ctl->metrics)) {
		json_t *m = metrics_config_to_json(&ctl->metrics);
		err = !m || json_object_set_new(o, "metrics", m) < 0;
	}
	json_decref(drives);
	json_decref(nets);
	json_decref(mc);
	if (err) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *ctl_vm_config(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	json_t *o = vm_config_locked(ctl);
	pthread_mutex_unlock(&ctl->lock);
	return o;
}

/* ---- --config-file ---- */

static int prefixed(int r, const char *prefix, char *err, size_t errlen)
{
	if (r < 0 && err && errlen) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", err);
		/* Messages from the shared parsers already start with the section name. */
		if (strncmp(msg, prefix, strlen(prefix)) != 0)
			snprintf(err, errlen, "%s: %s", prefix, msg);
	}
	return r;
}

static int load_device_array(struct controller *ctl, const char *section, const char *id_key,
			     json_t *arr, char *err, size_t errlen)
{
	if (json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return fail(err, errlen, -EINVAL, "%s: expected an array", section);
	size_t i;
	json_t *el;
	json_array_foreach(arr, i, el) {
		char where[64];
		snprintf(where, sizeof(where), "%s[%zu]", section, i);
		json_t *id = json_is_object(el) ? json_object_get(el, id_key) : NULL;
		if (!json_is_string(id))
			return fail(err, errlen, -EINVAL, "%s.%s: missing or not a string", where, id_key);
		int r = id_key[0] == 'd' ? ctl_put_drive(ctl, json_string_value(id), el, err, errlen)
					 : ctl_put_net(ctl, json_string_value(id), el, err, errlen);
		if (r < 0)
			return prefixed(r, where, err, errlen);
	}
	return 0;
}

int ctl_load_config(struct controller *ctl, const char *json, char *err, size_t errlen)
{
	/* The order Firecracker applies them in: logging first, so the rest is logged there. */
	static const char *const order[] = { "logger", "metrics", "boot-source", "machine-config",
					     "cpu-config", "drives", "network-interfaces", "vsock",
					     "entropy", NULL };
	static const char *const later[] = { "balloon", "mmds-config", "pmem", "memory-hotplug",
					     NULL };
	json_error_t jerr;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(err, errlen, -EINVAL, "invalid JSON at line %d, column %d: %s", jerr.line,
			    jerr.column, jerr.text);
	int r = 0;
	if (!json_is_object(root))
		r = fail(err, errlen, -EINVAL, "expected a JSON object at the top level");
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		if (r < 0)
			break;
		bool known = false;
		for (const char *const *k = order; *k; k++)
			known |= !strcmp(*k, key);
		for (const char *const *k = later; !known && *k; k++) {
			if (strcmp(*k, key) != 0)
				continue;
			known = true;
			if (!json_is_null(val) && !(json_is_array(val) && !json_array_size(val)))
				r = fail(err, errlen, -EINVAL, "%s: not supported yet", key);
		}
		if (!known)
			r = fail(err, errlen, -EINVAL, "unknown field '%s'", key);
	}
	for (const char *const *k = order; r == 0 && *k; k++) {
		json_t *v = json_object_get(root, *k);
		if (!v || (json_is_null(v) && strcmp(*k, "boot-source") && strcmp(*k, "machine-config")))
			continue;
		if (!strcmp(*k, "drives"))
			r = load_device_array(ctl, "drives", "drive_id", v, err, errlen);
		else if (!strcmp(*k, "network-interfaces"))
			r = load_device_array(ctl, "network-interfaces", "iface_id", v, err, errlen);
		else if (!strcmp(*k, "boot-source"))
			r = ctl_put_boot_source(ctl, v, err, errlen);
		else if (!strcmp(*k, "machine-config"))
			r = prefixed(ctl_put_machine_config(ctl, v, false, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "cpu-config"))
			r = ctl_put_cpu_config(ctl, v, err, errlen);
		else if (!strcmp(*k, "vsock"))
			r = prefixed(ctl_put_vsock(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "entropy"))
			r = prefixed(ctl_put_entropy(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "logger"))
			r = prefixed(ctl_put_logger(ctl, v, err, errlen), *k, err, errlen);
		else if (!strcmp(*k, "metrics"))
			r = prefixed(ctl_put_metrics(ctl, v, err, errlen), *k, err, errlen);
	}
	json_decref(root);
	return r;
}
