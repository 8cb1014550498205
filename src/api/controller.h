/* The controller: one microVM instance as the management plane sees it.
 *
 * It holds what Firecracker calls the VM resources (boot source, machine config, CPU config,
 * devices, logger, metrics, serial output) while the instance is "Not started", builds and
 * starts the VM on InstanceStart, and afterwards pauses/resumes it, injects Ctrl-Alt-Del and
 * flushes metrics. Both the REST API (src/api/router.c) and the --config-file start of the
 * Firecracker-style CLI go through it, so a config file means exactly what the same PUTs mean.
 *
 * Threads: API requests call the ctl_* functions from the API thread; they only take `lock`
 * briefly and never wait for the guest. Work that has to wait for vCPUs (building and
 * starting the VM, pausing, resuming) runs on the controller's worker thread ("fc_vmm"), which
 * reports back through a callback; the worker also flushes metrics every 60 s. The main thread
 * waits for the VM to start (event_fd), runs the console, then calls ctl_finish().
 *
 * Files, top down (each calls only the ones below it): routes.c (the REST routes),
 * vm_config.c (the --config-file document and GET /vm/config) and resources.c (the core's
 * hooks); one ctl_<resource>.c per API resource (ctl_drives.c, ctl_network.c, ctl_instance.c,
 * ctl_snapshot.c, ...), which call only the core; the core: core.c (lifecycle, InstanceStart,
 * the worker), core_checks.c (the checks and helpers the resources share), core_adopt.c (a VM
 * that arrives: overrides, a fresh instance), core.h. The router (router.c) calls in here;
 * nothing here calls the router.
 */
#ifndef PETREL_API_CONTROLLER_H
#define PETREL_API_CONTROLLER_H

#include "api/metrics.h"
#include "config/vm_config.h"
#include "devices/legacy/boot_timer.h"
#include "util/log.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;
struct mmds;
struct vnc;

#define CTL_ID_MAX 64
#define CTL_DEFAULT_ID "anonymous-instance"

enum instance_state {
	INSTANCE_NOT_STARTED = 0,
	INSTANCE_STARTING,     /* InstanceStart accepted, VM being built ("Not started" to clients) */
	INSTANCE_RUNNING,
	INSTANCE_PAUSED,
	INSTANCE_STOPPED,      /* the guest stopped; the process is about to exit */
};

/* Work for the worker thread. */
enum ctl_action {
	CTL_ACTION_START,
	CTL_ACTION_PAUSE,
	CTL_ACTION_RESUME,
	CTL_ACTION_SNAPSHOT, /* arg: struct snapshot_request (create or load) */
	CTL_ACTION_PROMOTE,  /* PATCH /replication promote, asked: wait for the guest to run */
	CTL_ACTION_GUEST,    /* arg: struct guest_request (a /guest/... request to the agent) */
};

/* Called once per submitted action, on the worker thread: err is 0 or a negative errno
 * (-ENOMEM: internal error; anything else: the request was refused), msg says why. */
typedef void (*ctl_done_fn)(void *opaque, int err, const char *msg);

struct snapshot_request;

struct ctl_job {
	enum ctl_action action;
	void *arg;               /* owned by the job (CTL_ACTION_SNAPSHOT) */
	ctl_done_fn done;
	void *opaque;
	struct ctl_job *next;
};

/* Firecracker's API request counters: each is {name}_count and {name}_fails in the metrics
 * group get_api_requests, put_api_requests or patch_api_requests (see ctl_metrics.c). The
 * router says which one a request counts under (ctl_count_request). */
enum api_counter {
	API_GET_INSTANCE_INFO, API_GET_VMM_VERSION, API_GET_MACHINE_CFG, API_GET_VM_CONFIG,
	API_PUT_MACHINE_CFG, API_PUT_ACTIONS, API_PUT_BOOT_SOURCE, API_PUT_CPU_CFG, API_PUT_LOGGER,
	API_PUT_METRICS, API_PUT_SERIAL, API_PUT_DRIVE, API_PUT_NETWORK, API_PUT_VSOCK,
	API_PUT_ENTROPY, API_PUT_SNAPSHOT, API_PUT_MIGRATION, API_GET_MIGRATION, API_PUT_REPLICATION, API_GET_REPLICATION,
	API_PATCH_REPLICATION,
	API_PATCH_MACHINE_CFG, API_PATCH_VM, API_PATCH_DRIVE, API_PATCH_NETWORK,
	API_GET_MMDS, API_PUT_MMDS, API_PATCH_MMDS,
	API_GET_BALLOON, API_PUT_BALLOON, API_PATCH_BALLOON,
	API_GET_HOTPLUG_MEMORY, API_PUT_HOTPLUG_MEMORY, API_PATCH_HOTPLUG_MEMORY,
	API_GET_HOTPLUG_VCPU, API_PUT_HOTPLUG_VCPU, API_PATCH_HOTPLUG_VCPU,
	API_PUT_PMEM, API_PATCH_PMEM,
	API_PUT_FS,
	API_PUT_DISPLAY,
	API_GET_GUEST, API_PUT_GUEST,
	API_PUT_CONSOLE_PORT, API_PUT_GUEST_AGENT,
	API_COUNTERS
};

/* Firecracker's latencies_us metrics: how long the last of each took (ctl_note_latency). */
enum ctl_latency {
	LAT_FULL_CREATE_SNAPSHOT, LAT_DIFF_CREATE_SNAPSHOT, LAT_LOAD_SNAPSHOT, LAT_PAUSE_VM,
	LAT_RESUME_VM, CTL_LATENCIES
};

struct logger_settings {
	bool configured;       /* by PUT /logger (what GET /vm/config reports) */
	char *log_path;        /* NULL: stderr */
	enum log_level level;
	bool show_level, show_log_origin;
	char *module;
};

struct controller {
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* wakes the worker */
	char id[CTL_ID_MAX + 1];

	/* The VM definition (devices included). Read without the lock by the thread that builds
	 * the VM: every writer checks state == NOT_STARTED under the lock first. */
	struct vm_config cfg;
	int serial_fd;                /* PUT /serial serial_out_path, opened; -1: stdout */
	char *serial_path;
	struct token_bucket_config serial_limit; /* PUT /serial rate_limiter (not present: none) */
	struct logger_settings logger;
	struct mmds *mmds;            /* the metadata service (ctl_mmds.c), made on first use */
	size_t mmds_limit;            /* its data store limit in bytes (0: Firecracker's 51200) */
	struct metrics metrics;
	struct { uint64_t count, fails; } api_requests[API_COUNTERS];   /* ctl_count_request */
	uint64_t deprecated_api_calls;  /* requests that used a deprecated field (metrics) */
	uint64_t latency_us[CTL_LATENCIES]; /* the last of each (metrics latencies_us) */
	uint64_t startup_us, startup_cpu_us; /* process start -> API serving (metrics api_server) */
	bool boot_timer_enabled;
	struct boot_timer boot_timer;
	/* tests/fuzz: validate requests but touch nothing outside the controller: no host file
	 * is opened (paths of kernels and disks are taken as they are; log, metrics and serial
	 * paths are refused) and the global logger is left alone. */
	bool dry_run;

	enum instance_state state;
	struct vm *vm;                /* from InstanceStart on */
	struct vnc *vnc;              /* its display's VNC server (ctl_display_serve), or NULL */
	bool vm_joined;               /* ctl_finish() joined its vCPU threads */
	int event_fd;                 /* eventfd: written when the VM runs (main thread waits) */

	/* live migration (ctl_migration.c): the current or last one, and on a destination the
	 * VM being received (ctl->vm once it runs) and the request's overrides */
	struct migration *mig;
	struct vm *mig_vm;
	struct ctl_overrides *mig_overrides;
	/* replication (ctl_replication.c): the primary's or standby's, and on a standby the VM it
	 * keeps (ctl->vm once it takes over) and the request's overrides */
	struct replication *repl;
	struct vm *repl_vm;
	struct ctl_overrides *repl_overrides;
	/* the worker is writing a snapshot or backup of ctl->vm (it takes the dirty page log and
	 * pauses): a migration or replication waits until it is done */
	bool snapshot_busy;
	/* the guest agent's client (src/agent, ctl_guest.c) when the definition enables it: made
	 * with the VM, freed (a pending freeze thawed) by ctl_free's hook. Set under the lock;
	 * used by the worker's jobs (one at a time; the client has its own lock). */
	struct guest_agent *agent;

	/* worker */
	pthread_t worker;
	bool worker_started, shutting_down;
	struct ctl_job *jobs, **jobs_tail;
	uint64_t next_flush_ns;       /* 0: no periodic flush */
};

/* id: the instance id (NULL: "anonymous-instance"). 0 or -errno. */
int ctl_init(struct controller *ctl, const char *id);
/* Stop the worker (failing queued jobs), destroy the VM, free everything. */
void ctl_free(struct controller *ctl);
/* Start the worker thread. Block the signals the console takes before calling this: the
 * worker creates the vCPU threads, which inherit its signal mask. */
int ctl_start_worker(struct controller *ctl);
/* Queue work for the worker. 0 (done() will be called) or -ESHUTDOWN. */
int ctl_submit(struct controller *ctl, enum ctl_action action, ctl_done_fn done, void *opaque);
/* The same with an argument the job owns (freed after it ran, or if it cannot be queued). */
int ctl_submit_arg(struct controller *ctl, enum ctl_action action, void *arg, ctl_done_fn done,
		   void *opaque);
/* Wake the main thread: the VM now runs (ctl->vm set). */
void ctl_notify_main(struct controller *ctl);
/* A VM that now runs (booted, restored, arrived, taken over) with a display and a vnc_socket:
 * its VNC server started (src/ui/vnc.h), on the thread that built it (it loads libvncserver).
 * A failure is logged: the guest runs without its screen served. */
void ctl_display_serve(struct controller *ctl, struct vm *vm);

/* ctl_snapshot.c: PUT /snapshot/create, /snapshot/load and petrel's /snapshot/backup bodies
 * (strict, -EINVAL and why), and their work on the worker thread. */
enum snapshot_request_kind { SNAP_REQ_CREATE, SNAP_REQ_LOAD, SNAP_REQ_BACKUP };
int ctl_snapshot_parse(json_t *body, enum snapshot_request_kind kind, struct snapshot_request **out,
		       char *err, size_t errlen);
void ctl_snapshot_request_free(struct snapshot_request *q);
int ctl_snapshot_run(struct controller *ctl, struct snapshot_request *q, char *err, size_t errlen);
/* A create's or backup's answer once it ran, when its body named a consistency:
 * {"consistency": "filesystem"|"crash", "frozen_ms" (when frozen)} (NULL: a 204). */
json_t *ctl_snapshot_take_answer(struct snapshot_request *q);

/* ctl_guest.c (docs/guest-agent.md): GET /guest/ping, /guest/info, /guest/interfaces, PUT
 * /guest/fsfreeze, /guest/shutdown, /guest/time, /guest/fstrim. parse checks the body (NULL
 * for a GET) on the API's thread; run talks to the agent on the worker; take_answer gives
 * what a 200 answers (NULL: 204); http_status maps a failure of run to 400, 502 or 504. */
enum guest_op { GUEST_PING, GUEST_INFO, GUEST_INTERFACES, GUEST_FSFREEZE, GUEST_SHUTDOWN, GUEST_TIME, GUEST_FSTRIM };
struct guest_request;
int ctl_guest_parse(json_t *body, enum guest_op op, struct guest_request **out, char *err, size_t errlen);
int ctl_guest_run(struct controller *ctl, struct guest_request *q, char *err, size_t errlen);
json_t *ctl_guest_take_answer(struct guest_request *q);
unsigned ctl_guest_http_status(int r);
void ctl_guest_request_free(struct guest_request *q);
void ctl_guest_free(struct controller *ctl);

/* ctl_migration.c: PUT /migration/receive and /migration/send (0 or -errno with err; the
 * migration goes on in the background), GET /migration, and whether one is under way. */
int ctl_migration_receive(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_migration_send(struct controller *ctl, json_t *body, char *err, size_t errlen);
json_t *ctl_migration_status(struct controller *ctl);
/* Cancel and free it (ctl_free's hook). */
void ctl_migration_free(struct controller *ctl);

/* ctl_replication.c: PUT /replication (either role) and GET /replication. */
int ctl_replication_put(struct controller *ctl, json_t *body, char *err, size_t errlen);
json_t *ctl_replication_status(struct controller *ctl);
/* PATCH /replication {"action": "promote"}: a standby runs the guest from its last checkpoint.
 * The patch asks for it (0, or refused at once); the wait (the worker's CTL_ACTION_PROMOTE)
 * answers once the guest runs, the takeover failed, or 10 s went by. */
int ctl_replication_patch(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_replication_promote_wait(struct controller *ctl, char *err, size_t errlen);
void ctl_replication_free(struct controller *ctl);

/* Build and start the VM now, on the calling thread (the worker's CTL_ACTION_START, or main
 * for --config-file). 0, or -errno with the reason in err. */
int ctl_start_vm(struct controller *ctl, char *err, size_t errlen);
/* The VM once it runs, or NULL (main thread, after event_fd fired). */
struct vm *ctl_running_vm(struct controller *ctl);
/* After the console loop returned (the VM is stopping): join the vCPUs, flush metrics a last
 * time, mark the instance stopped. Returns petrel's exit status. */
int ctl_finish(struct controller *ctl);
/* Stop the worker thread: queued and later jobs fail with -ESHUTDOWN. */
void ctl_stop_worker(struct controller *ctl);

/* ---- requests (the REST API and the config file). Bodies are borrowed JSON values.
 * Return 0, or -errno with a message in err: -ENOMEM means an internal error, anything else
 * a bad request. ---- */
int ctl_put_boot_source(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_put_machine_config(struct controller *ctl, json_t *body, bool patch, char *err,
			   size_t errlen);
int ctl_put_cpu_config(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_put_drive(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen);
int ctl_patch_drive(struct controller *ctl, const char *id, json_t *body, char *err,
		    size_t errlen);
int ctl_put_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen);
int ctl_patch_net(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen);
int ctl_put_vsock(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_put_entropy(struct controller *ctl, json_t *body, char *err, size_t errlen);
/* ctl_display.c: PUT /display (petrel's, docs/display.md), before the start. */
int ctl_put_display(struct controller *ctl, json_t *body, char *err, size_t errlen);
/* Test-only (with --debug-exit): PUT /display/frame {"path"} writes the frame through
 * display.h into the file and answers its mode and the lines changed since the last one; PUT
 * /display/input sends keys and pointer events. */
int ctl_test_display_frame(struct controller *ctl, json_t *body, json_t **out, char *err, size_t errlen);
int ctl_test_display_input(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_put_logger(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_put_metrics(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_put_serial(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_send_ctrl_alt_del(struct controller *ctl, char *err, size_t errlen);
int ctl_flush_metrics(struct controller *ctl, char *err, size_t errlen);
/* Checks done before queueing InstanceStart / a pause or resume, so a bad request is answered
 * at once: 0 or -EINVAL with a message. */
int ctl_check_start(struct controller *ctl, char *err, size_t errlen);
int ctl_check_vm_state_change(struct controller *ctl, char *err, size_t errlen);

/* ctl_mmds.c: PUT/PATCH /mmds (-E2BIG: over the data store limit, a 413), GET /mmds (NULL:
 * out of memory) and PUT /mmds/config; the "mmds" metrics group (lock held). */
int ctl_put_mmds(struct controller *ctl, json_t *body, bool patch, char *err, size_t errlen);
json_t *ctl_get_mmds(struct controller *ctl);
int ctl_put_mmds_config(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_mmds_metrics_locked(struct controller *ctl, json_t *out);
/* The API serves now: record Firecracker's api_server startup metrics. start_us (CLOCK_MONOTONIC)
 * and start_cpu_us come from a launcher (--start-time-us, --start-time-cpu-us; 0: not given):
 * the wall time is known only with start_us; the CPU time is this process's own since exec
 * (less start_cpu_us when given) plus parent_cpu_us (--parent-cpu-time-us, the launcher's). */
void ctl_note_startup(struct controller *ctl, uint64_t start_us, uint64_t start_cpu_us,
		      uint64_t parent_cpu_us);

/* ctl_balloon.c (docs/balloon.md): PUT /balloon (pre-boot), PATCH /balloon and PATCH
 * /balloon/statistics (after the start), GET /balloon and GET /balloon/statistics (*out: a
 * new reference), the "balloon" metrics group (lock held). */
int ctl_put_balloon(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_patch_balloon(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_patch_balloon_stats(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_get_balloon(struct controller *ctl, json_t **out, char *err, size_t errlen);
int ctl_get_balloon_stats(struct controller *ctl, json_t **out, char *err, size_t errlen);
struct balloon_state;
json_t *ctl_balloon_stats_json(const struct balloon_state *st);
int ctl_balloon_metrics_locked(struct controller *ctl, json_t *out);

/* ctl_hotplug_memory.c (virtio-mem, docs/user-guide.md): PUT /hotplug/memory (pre-boot), PATCH
 * /hotplug/memory (after the start), GET /hotplug/memory (*out: a new reference), the
 * "memory_hotplug" metrics group (lock held). */
int ctl_put_hotplug_memory(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_patch_hotplug_memory(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_get_hotplug_memory(struct controller *ctl, json_t **out, char *err, size_t errlen);
int ctl_hotplug_memory_metrics_locked(struct controller *ctl, json_t *out);
/* Free page hinting after the start: PATCH /balloon/hinting/start (body: NULL or
 * {"acknowledge_on_stop"}), PATCH /balloon/hinting/stop, GET /balloon/hinting/status. */
int ctl_balloon_hint_start(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_balloon_hint_stop(struct controller *ctl, char *err, size_t errlen);
int ctl_balloon_hint_status(struct controller *ctl, json_t **out, char *err, size_t errlen);

/* ctl_hotplug_vcpu.c (petrel's vCPU hot-plug, vm/vcpu_hotplug.h): PUT /hotplug/vcpu
 * (pre-boot), PATCH /hotplug/vcpu (after the start), GET /hotplug/vcpu (*out: a new
 * reference), the "vcpu_hotplug" metrics group (lock held). */
int ctl_put_hotplug_vcpu(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_patch_hotplug_vcpu(struct controller *ctl, json_t *body, char *err, size_t errlen);
int ctl_get_hotplug_vcpu(struct controller *ctl, json_t **out, char *err, size_t errlen);
int ctl_hotplug_vcpu_metrics_locked(struct controller *ctl, json_t *out);

/* ctl_pmem.c (docs/pmem.md): PUT /pmem/{id} (pre-boot), PATCH /pmem/{id} (a new rate limiter,
 * after the start), the config file's "pmem" array (one PUT per element), and the metrics
 * groups "pmem_<id>" and "pmem" (all devices) added to out (lock held; -ENOMEM). */
int ctl_put_pmem(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen);
int ctl_patch_pmem(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen);
int ctl_load_pmem(struct controller *ctl, json_t *arr, char *err, size_t errlen);
int ctl_pmem_metrics_locked(struct controller *ctl, json_t *out);
/* ctl_fs.c (docs/virtio-fs.md): PUT /fs/{id} (pre-boot; its socket must exist); the config
 * file's "fs" array is one PUT per element. */
int ctl_put_fs(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen);
/* ctl_console_ports.c (docs/guest-agent.md): PUT /console-ports/{port_id} and PUT /guest-agent
 * (pre-boot); the config file's "console-ports" array is one PUT per element. */
int ctl_put_console_port(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen);
int ctl_put_guest_agent(struct controller *ctl, json_t *body, char *err, size_t errlen);

/* Count one API request (and a failure when it failed) for the metrics (core_checks.c). */
void ctl_count_request(struct controller *ctl, enum api_counter counter, bool failed);

/* Load a Firecracker --config-file document: every section is applied like the matching PUT
 * ("drives" and "network-interfaces" as one PUT per element). 0 or -errno with err. */
int ctl_load_config(struct controller *ctl, const char *json, char *err, size_t errlen);

/* ---- GET responses: new references (NULL only when out of memory) ---- */
json_t *ctl_instance_info(struct controller *ctl);
json_t *ctl_machine_config(struct controller *ctl);
json_t *ctl_vm_config(struct controller *ctl);
/* The cumulative counters a metrics line is made of (for tests and FlushMetrics). */
json_t *ctl_metrics_counters(struct controller *ctl);

const char *instance_state_name(enum instance_state s);

#endif
