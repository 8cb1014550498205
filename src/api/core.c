/* The controller's core: set-up and tear-down, starting the VM (InstanceStart), the worker
 * thread that runs what waits for the guest, the end of the instance, and the metadata store
 * the resources share. It reaches the resources only through their hooks (core.h,
 * resources.c). See controller.h. */
#include "api/core.h"
#include "mmds/mmds.h"
#include "ui/vnc.h"
#include "util/thread.h"
#include "util/proc_metrics.h"
#include "util/util.h"
#include "vm/vm.h"

#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

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
	/* a migration source resumes its guest, a destination drops its half VM; a replication
	 * primary tells its standby not to take over */
	for (const struct ctl_resource *res = ctl_resources; res->name; res++)
		if (res->free)
			res->free(ctl);
	vnc_stop(ctl->vnc);   /* it reads the guest's framebuffer: before the VM goes */
	ctl->vnc = NULL;
	if (ctl->vm && !ctl->vm_joined) {
		/* petrel is leaving before the guest stopped (a signal raced with the start). */
		vm_request_stop(ctl->vm, VM_STOP_USER, 0, "petrel is exiting");
		vm_join(ctl->vm);
	}
	if (ctl->vm) {
		vm_destroy(ctl->vm);
		vm_free(ctl->vm);
		ctl->vm = NULL;
	}
	vm_config_free(&ctl->cfg);
	mmds_unref(ctl->mmds);
	ctl->mmds = NULL;
	proc_metrics_set_sink(-1, NULL);   /* before its descriptor closes */
	metrics_free(&ctl->metrics);
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

static int check_start_locked(struct controller *ctl, char *err, size_t errlen)
{
	if (ctl->state == INSTANCE_STARTING)
		return error_set(err, errlen, -EBUSY, "the microVM is already starting");
	if (ctl->state != INSTANCE_NOT_STARTED)
		return error_set(err, errlen, -EBUSY, "the microVM has already been started");
	if (!ctl->cfg.kernel_path && !ctl->cfg.firmware && !ctl->cfg.from_disk)
		return error_set(err, errlen, -EINVAL, "cannot start the microVM: no boot source "
			    "(PUT /boot-source with a kernel_image_path, a firmware or from_disk first)");
	/* Devices the VM cannot attach (yet) make vm_create fail with a message naming them:
	 * a configured device is never silently left out. */
	char msg[256];
	if (vm_config_validate(&ctl->cfg, msg, sizeof(msg)) < 0)
		return error_set(err, errlen, -EINVAL, "cannot start the microVM: %s", msg);
	if (ctl->boot_timer_enabled && ctl->cfg.firmware)
		return error_set(err, errlen, -EINVAL, "cannot start the microVM: --boot-timer's register (0x%llx) is in "
			    "a firmware's PCI hole; it goes with a kernel boot source", (unsigned long long)BOOT_TIMER_MMIO_BASE);
	/* a firmware shows the machine's UUID: made up once, kept in the definition (snapshots,
	 * migration, GET /vm/config carry it) */
	int ur = ctl->cfg.firmware ? vm_config_ensure_uuid(&ctl->cfg) : 0;
	if (ur < 0)
		return error_set(err, errlen, ur, "cannot start the microVM: no random UUID: %s", strerror(-ur));
	return 0;
}

int ctl_check_start(struct controller *ctl, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = check_start_locked(ctl, err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

struct mmds *ctl_mmds_service_locked(struct controller *ctl)
{
	if (!ctl->mmds) {
		ctl->mmds = mmds_new(ctl->mmds_limit ? ctl->mmds_limit : MMDS_STORE_DEFAULT_LIMIT);
		if (ctl->mmds)
			mmds_set_instance(ctl->mmds, ctl->id);
	}
	return ctl->mmds;
}

/* The resources' periodic output (the metrics line): lock held, metrics configured. */
static int flush_locked(struct controller *ctl)
{
	int r = 0;
	for (const struct ctl_resource *res = ctl_resources; res->name; res++)
		if (res->flush_locked) {
			int e = res->flush_locked(ctl);
			r = r < 0 ? r : e;
		}
	return r;
}

void ctl_notify_main(struct controller *ctl)
{
	uint64_t one = 1;
	if (write(ctl->event_fd, &one, sizeof(one)) < 0)
		log_warn("cannot wake the main thread: %s", strerror(errno));
}

void ctl_display_serve(struct controller *ctl, struct vm *vm)
{
	const struct vm_config *c = vm_config(vm);
	struct display *d = vm_display(vm);
	if (!d || !c->has_display || !c->display.vnc_socket)
		return;
	char err[320];
	struct vnc *v;
	if (vnc_start(d, c->display.vnc_socket, &v, err, sizeof(err)) < 0) {
		log_error("the display is not served: %s", err);
		return;
	}
	pthread_mutex_lock(&ctl->lock);
	struct vnc *old = ctl->vnc;
	ctl->vnc = v;
	pthread_mutex_unlock(&ctl->lock);
	vnc_stop(old);
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
	if (ctl->cfg.mmds.configured)
		ctl->cfg.mmds_service = ctl_mmds_service_locked(ctl);   /* PUT /mmds reaches the guest */
	pthread_mutex_unlock(&ctl->lock);

	/* From here on nobody changes ctl->cfg (state is STARTING), so it is read unlocked. */
	struct vm *vm = vm_alloc();
	if (!vm) {
		pthread_mutex_lock(&ctl->lock);
		ctl->state = INSTANCE_NOT_STARTED;
		pthread_mutex_unlock(&ctl->lock);
		return error_oom(err, errlen);
	}
	if (boot_timer)
		boot_timer_init(&ctl->boot_timer);
	char why[512];
	if ((r = ctl_agent_prepare(ctl, &ctl->cfg, err, errlen)) < 0) {
		vm_free(vm);
		pthread_mutex_lock(&ctl->lock);
		ctl->state = INSTANCE_NOT_STARTED;
		pthread_mutex_unlock(&ctl->lock);
		return r;
	}
	log_capture_begin(why, sizeof(why));
	r = vm_create(vm, &ctl->cfg, out_fd);
	ctl_agent_attach(ctl, vm, &ctl->cfg, r == 0);
	if (r == 0 && boot_timer) {
		r = bus_register(vm_mmio_bus(vm), BOOT_TIMER_MMIO_BASE, BOOT_TIMER_MMIO_LEN, "boot-timer",
				 boot_timer_read, boot_timer_write, &ctl->boot_timer);
		if (r < 0)
			log_error("cannot place the boot timer at 0x%llx: %s",
				  (unsigned long long)BOOT_TIMER_MMIO_BASE, strerror(-r));
	}
	log_capture_end();
	if (r < 0) {
		vm_destroy(vm);
		vm_free(vm);
		pthread_mutex_lock(&ctl->lock);
		ctl->state = INSTANCE_NOT_STARTED;
		pthread_mutex_unlock(&ctl->lock);
		if (r == -ENOMEM)
			return error_oom(err, errlen);
		return error_set(err, errlen, -EINVAL, "cannot start the microVM: %s",
			    why[0] ? why : strerror(-r));
	}
	serial_set_rate_limiter(vm_serial(vm), &ctl->serial_limit); /* fixed while STARTING */
	r = vm_start(vm);   /* on failure the VM is already stopping: main joins it */
	pthread_mutex_lock(&ctl->lock);
	ctl->vm = vm;
	ctl->state = INSTANCE_RUNNING;
	pthread_mutex_unlock(&ctl->lock);
	ctl_notify_main(ctl);
	if (r < 0)
		return error_set(err, errlen, -ENOMEM, "cannot start the vCPU threads: %s", strerror(-r));
	ctl_display_serve(ctl, vm);
	log_info("microVM started: %u vCPU(s), %llu MiB, %s %s", ctl->cfg.vcpus, (unsigned long long)ctl->cfg.mem_mib,
		 ctl->cfg.firmware ? "firmware" : ctl->cfg.from_disk ? "boot" : "kernel",
		 ctl->cfg.firmware ? ctl->cfg.firmware : ctl->cfg.from_disk ? "from disk" : ctl->cfg.kernel_path);
	return 0;
}

struct vm *ctl_running_vm(struct controller *ctl)
{
	pthread_mutex_lock(&ctl->lock);
	struct vm *vm = started(ctl) ? ctl->vm : NULL;
	pthread_mutex_unlock(&ctl->lock);
	return vm;
}

int ctl_finish(struct controller *ctl)
{
	struct vm *vm = ctl->vm;   /* written before event_fd fired; main reads it after */
	int status = vm ? vm_join(vm) : 0;
	pthread_mutex_lock(&ctl->lock);
	ctl->vm_joined = vm != NULL;
	ctl->state = INSTANCE_STOPPED;
	if (metrics_configured(&ctl->metrics))
		flush_locked(ctl);
	pthread_mutex_unlock(&ctl->lock);
	return status;
}

/* ---- the worker ---- */

static void run_job(struct controller *ctl, struct ctl_job *job)
{
	char msg[640] = "";
	int r = ctl_actions[job->action].run(ctl, job->arg, msg, sizeof(msg));
	job->done(job->opaque, r, r < 0 ? msg : NULL);
}

static void periodic_flush_locked(struct controller *ctl)
{
	if (!metrics_configured(&ctl->metrics)) {
		ctl->next_flush_ns = 0;
		return;
	}
	if (flush_locked(ctl) < 0)
		log_debug("periodic metrics flush failed");
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
		if (ctl_actions[job->action].free_arg)
			ctl_actions[job->action].free_arg(job->arg);
		free(job);
		pthread_mutex_lock(&ctl->lock);
	}
	pthread_mutex_unlock(&ctl->lock);
	return NULL;
}

int ctl_start_worker(struct controller *ctl)
{
	int r = thread_start(&ctl->worker, SC_VMM, "fc_vmm", worker_main, ctl);
	if (r)
		return r;
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
