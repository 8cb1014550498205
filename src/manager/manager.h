/* petreld, the host service (docs/manager.md): keeps a host's VMs as definition files plus one
 * petrel worker process per running VM, started through petrel-jailer and driven through the
 * worker's API socket. petreld never touches KVM itself.
 *
 * Threads: the API server's (src/api/http.c) runs the handlers (api.c) under m->lock; verbs
 * that wait on a worker (start, shutdown, ...) run on a thread of their own (lifecycle.c) with
 * the VM marked busy, so the API never waits on a guest; the main thread supervises
 * (supervise.c): it reaps workers, sees them die through pidfds and applies restart policies. */
#ifndef PETREL_MANAGER_H
#define PETREL_MANAGER_H

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define VM_NAME_MAX 64
#define DEF_MAX_BYTES (1 << 20)

enum vm_state { VM_SHUTOFF, VM_STARTING, VM_RUNNING, VM_PAUSED, VM_CRASHED,
		VM_STANDBY /* a replication standby's worker: holds the guest, does not run it */ };
enum replica_role { REPLICA_NONE, REPLICA_PRIMARY, REPLICA_STANDBY };
enum restart_policy { RESTART_NEVER, RESTART_ON_FAILURE, RESTART_ALWAYS };

/* A VM's share of the host, applied to its worker's cgroup (partition.c). 0 / "": not set. */
struct vm_resources {
	unsigned cpu_weight;        /* 1..10000, 100 = the default share */
	unsigned cpu_quota_pct;     /* % of one CPU per period, 1..100 * host CPUs */
	char cpuset[64];            /* host CPUs, "0-1,3" */
	uint64_t memory_limit_mib;  /* worker's whole memory, guest RAM included */
};

/* One definition file, checked (definition.c). */
struct vm_def {
	char name[VM_NAME_MAX + 1];
	char uuid[37];
	bool autostart;
	enum restart_policy restart;
	struct vm_resources res;
	unsigned uid, gid;          /* the worker's ids in its jail */
	json_t *doc;                /* the whole document, as stored (owned) */
};

struct vm {
	struct vm *next;
	struct vm_def def;
	enum vm_state state;
	const char *busy;           /* the verb running on its thread, or NULL */
	pid_t pid;                  /* the worker process petreld started (jailer or petrel) */
	unsigned long long start_time; /* /proc/PID/stat field 22 */
	int pidfd;                  /* -1: none */
	pid_t vmm_pid;              /* petrel itself (inside the jail's pid namespace), or pid */
	char api_sock[108];
	char jail_dir[PATH_MAX];    /* <jail base>/petrel/<name>, "" without the jailer */
	bool stopping;              /* petreld ended it (shutdown, destroy): not a crash */
	bool restart_due;
	bool autostart_due;          /* the due start is an autostart, not a restart */
	uint64_t restart_at_ms;     /* CLOCK_MONOTONIC */
	unsigned restarts;          /* in a row, for the on-failure backoff */
	int last_exit;              /* wait status, -1 unknown (not petreld's child) */
	long long started_at;       /* wall clock, seconds */
	char verb_arg[VM_NAME_MAX + 1]; /* the snapshot a snapshot verb is about */
	long want_vcpus, want_mem_mib;  /* the machine verb's */
	bool incoming;              /* arriving by live migration: not defined here until it runs (peer.h) */
	/* replica.c: its part in a replicated pair, what the verb asked, what its worker says */
	enum replica_role replica;
	json_t *replica_args;       /* the replica verb's body (owned) */
	json_t *replica_status;     /* the worker's GET /replication, refreshed (owned) */
	void *verb_data;            /* a clone request (clone.c), the verb's to free */
	json_t *verb_result;        /* what the verb answers instead of the VM (clones), or NULL */
	uint64_t serial;            /* supervise.c: tells this VM from a later one at its address */
	uint64_t launch_t0;         /* worker.c: when its last start began (CLOCK_MONOTONIC ms) */
	unsigned launch_ms[3];      /* ... and ms from then to spawned, API answering, jail filled */
};

struct manager {
	pthread_mutex_t lock;
	struct vm *vms;
	int wake;                   /* eventfd: the supervisor has something to look at */
	/* configuration */
	const char *state_dir;      /* /run/petreld: run/<name>.json, logs, worker sockets */
	const char *defs_dir;       /* /etc/petreld/vms: <name>.json */
	const char *socket_path;
	const char *petrel;         /* the worker binary */
	const char *jailer;         /* NULL: workers run without the jailer (--no-jailer) */
	const char *jail_base;
	const char *snapshot_dir;   /* /var/lib/petreld/snapshots */
	int cgroup_version;         /* 1 or 2 */
	const char *cgroup_parent;  /* workers' cgroups are <hierarchy>/<parent>/<name> */
	unsigned shutdown_timeout_s;
	unsigned api_timeout_ms;    /* a worker's API call, once the worker makes no progress */
	unsigned api_timeout_max_ms; /* ... and while it does (worker_wait.c) */
	const char *listen_tcp;     /* ADDR:PORT of the TLS listener, or NULL (peer.h) */
	const char *tls_dir;        /* ca.pem, cert.pem, key.pem: the listener's and migration's */
	struct tls_creds *tls;      /* loaded from tls_dir */
	bool quitting;
};

/* util.c */
/* Run fn(arg) on a detached thread: 0 or -errno. */
int mgr_detached(void *(*fn)(void *), void *arg);
uint64_t mgr_now_ms(void);
/* The start time of pid (field 22 of /proc/PID/stat), or 0 if there is no such process. */
unsigned long long proc_start_time(pid_t pid);
/* The pid a pid file names (a line "PID\n"), or 0 while it is missing or not written whole. */
pid_t pid_file_read(const char *path);
/* A fault text into err (printf). Returns -code (an errno). */
int mgr_err(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* defs.c: the definitions directory. */
int defs_write_atomic(const char *dir, const char *name, const char *text, char *err, size_t errlen);
int defs_remove(const char *dir, const char *name, char *err, size_t errlen);
/* Read <dir>/<file> into a malloc'd NUL-terminated text (at most DEF_MAX_BYTES). */
int defs_read(const char *dir, const char *file, char **out, char *err, size_t errlen);

/* definition.c: text -> checked definition. Errors: -EINVAL (400) with the reason. */
int def_parse(const char *text, size_t len, struct vm_def *def, char *err, size_t errlen);
/* The files the VM writes to (drives, pmem) must exist, be regular files or block devices and
 * belong to no other VM of m (m->lock held; self is skipped). -EINVAL, -ENOENT or -EEXIST. */
int def_check_files(struct manager *m, const struct vm_def *def, char *err, size_t errlen);
void def_free(struct vm_def *def);
/* Only the keys of the NULL-ended list in o: 0, or -EINVAL "WHERE: unknown field 'K'". */
int def_only_keys(json_t *o, const char *where, const char *const *keys, char *err, size_t errlen);
/* Calls fn for every host file the Firecracker part of doc names: kernel, initrd (disk false),
 * drives and pmem (disk true); stops at its first error. */
int def_foreach_file(json_t *doc, int (*fn)(void *, const char *where, const char *path, bool disk),
		     void *arg);
const char *restart_policy_name(enum restart_policy p);

/* vm.c */
struct vm *vm_find(struct manager *m, const char *name);
const char *vm_state_name(enum vm_state s);
json_t *vm_to_json(struct manager *m, struct vm *vm);
/* What a listing shows (GET /list): name, state, pid, operation, resources if set. */
json_t *vm_brief_json(struct vm *vm);
bool vm_name_ok(const char *name);
/* A body {KEY: NAME} (a snapshot's, a backup's name) into out (VM_NAME_MAX + 1 bytes). */
bool name_body_parse(const char *body, size_t len, const char *key, char *out);
void vm_free(struct vm *vm);

/* events.c: the event stream (GET /events) and the log per VM. */
void events_init(struct manager *m);
/* Send one event to every subscriber and the VM's log: {"event": what, "vm": name, ...}.
 * extra (taken) adds fields. */
void event_emit(struct manager *m, const char *vm, const char *what, json_t *extra);
void events_subscribe(void *m, int fd);
void vm_log(struct manager *m, const char *vm, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The recent part of the VM's log as a JSON array, oldest first: its "STAMP {event}" lines as
 * the events, other lines as {"stamp", "message"}; empty when there is no log. */
json_t *events_read_log(struct manager *m, const char *vm);

/* worker_wait.c: petreld's requests to a worker's API, waiting as long as the worker works
 * (docs/manager.md#waiting-for-a-worker): idle_ms (usually api_timeout_ms) once its own threads
 * (not the guest's vCPUs and I/O) make no progress, at most api_timeout_max_ms (or idle_ms if
 * longer); a worker gone fails at once. Returns the HTTP status (body in *out) or -errno with a
 * fault text in err. */
int worker_request(struct manager *m, struct vm *vm, const char *method, const char *path, const char *body,
		   unsigned idle_ms, char **out, char *err, size_t errlen);
/* Whether the process pid's own threads made progress since the last look (wp->ticks): 1, 0,
 * or -ESRCH when it is gone (or a zombie). The first look only sets the baseline (and says 0).
 * A jailed worker's pid is the jailer's; with child_pid_file (where the jailer names its child,
 * petrel) the child counts too, from when the file names it: its progress is the worker's, and
 * its end (or zombie) is the worker's end. gone says which of the two a -ESRCH found gone. */
struct worker_progress {
	pid_t pid;
	const char *child_pid_file;
	pid_t child, gone;
	bool looked;
	unsigned long long ticks;
};
int worker_progress_look(void *opaque);
/* Wait for a new worker's API (sock, which the worker makes) to answer GET /, as the calls
 * wait: while the worker (and the jailer's child) make progress, up to max_ms; idle_ms without;
 * at once when one is gone. 0, or -errno with a fault text in err that says which process
 * ended or hung and, from the worker's log (its standard output and error, from byte
 * log_from on), the last line it wrote. */
struct worker_start_wait {
	const char *sock;
	struct worker_progress wp;
	unsigned idle_ms, max_ms;
	const char *log;
	long long log_from;
};
int worker_await_api(struct worker_start_wait *w, char *err, size_t errlen);

/* worker.c: the worker process. */
/* Start vm's worker and boot the VM, or with restore (a snapshot directory, snapshot.c) load
 * that snapshot into it. */
int worker_start(struct manager *m, struct vm *vm, const char *restore, char *err, size_t errlen);
/* ... or with receive, the body of the worker's PUT /migration/receive (migrate_in.c). */
int worker_start_as(struct manager *m, struct vm *vm, const char *restore, json_t *receive, char *err,
		    size_t errlen);
int copy_file(const char *src, const char *dst);
/* snapshot.c: rename, or copy and remove across file systems; remove a directory tree. */
int move_file(const char *src, const char *dst);
int rm_tree(const char *dir);
/* The subdirectories of parent with a meta.json (snapshots, backups): each meta.json without
 * its definition, plus "dir" and "mem_bytes" (the size of its vm.mem). */
json_t *meta_dirs_list(const char *parent);
/* Write meta (taken) as tmp/meta.json and rename tmp to dir; on failure tmp is removed. */
int meta_dir_finish(const char *tmp, const char *dir, json_t *meta, char *err, size_t errlen);

/* backup.c: backups of a running VM with its disks (petrel's PUT /snapshot/backup), in
 * <snapshot dir>/<vm>.backups/<name>/: vm.state, vm.mem, DRIVE_ID.img, meta.json. */
int vmbackup_create(struct manager *m, struct vm *vm, const char *name, char *err, size_t errlen);
json_t *vmbackup_list(struct manager *m, struct vm *vm);

/* snapshot.c: snapshots of a VM, <snapshot dir>/<vm>/<snapshot>/{vm.state, vm.mem, meta.json}. */
int vmsnap_create(struct manager *m, struct vm *vm, const char *snap, char *err, size_t errlen);
int vmsnap_revert(struct manager *m, struct vm *vm, const char *snap, char *err, size_t errlen);
int vmsnap_delete(struct manager *m, struct vm *vm, const char *snap, char *err, size_t errlen);
json_t *vmsnap_list(struct manager *m, struct vm *vm);
bool vmsnap_exists(struct manager *m, struct vm *vm, const char *snap);
/* Link (or copy) a snapshot's files into the worker's jail root as /vm.state and /vm.mem. */
int vmsnap_into_jail(struct manager *m, struct vm *vm, const char *dir, const char *root, char *err,
		       size_t errlen);
/* Kill the worker (SIGKILL), wait for its end and clean its jail, cgroups and files up. */
void worker_kill(struct manager *m, struct vm *vm);
/* After the worker has ended: remove its jail, cgroups and run state. */
void worker_cleanup(struct manager *m, struct vm *vm);
/* Where the worker writes its events (docs/events.md, --event-monitor): a file only petrel
 * writes, unlike its log, which the guest's console shares (migrate.c takes a migration's
 * figures from it). In the jail, or <state>/sock/<name>.events without one. */
void worker_events_path(struct manager *m, const struct vm *vm, char *out, size_t size);

/* runstate.c: <state>/run/<name>.json, what a later petreld re-adopts. */
int runstate_save(struct manager *m, struct vm *vm);
void runstate_remove(struct manager *m, const char *name);
/* Re-adopt vm's worker if its run state names a live one (pid + start time): 1 adopted,
 * 0 none (no state), -ESRCH: it was running and died while petreld was away. The state is the
 * saved one until the worker is asked (adopt.c does that for all of them, in the background). */
int runstate_adopt(struct manager *m, struct vm *vm);
/* The state a worker's API socket says (GET /): VM_RUNNING or VM_PAUSED, or -errno. */
int runstate_ask(struct manager *m, const char *sock);

/* adopt.c: at start-up, re-adopt every worker that outlived the last petreld. */
void adopt_all(struct manager *m);

/* partition.c: the worker's cgroup. */
int partition_jailer_args(struct manager *m, const struct vm_resources *r, char **argv, int max,
			  char bufs[][96]);
int partition_apply(struct manager *m, struct vm *vm, const struct vm_resources *r, char *err,
		    size_t errlen);
int partition_parse(json_t *o, struct vm_resources *r, char *err, size_t errlen);
json_t *partition_to_json(const struct vm_resources *r);
json_t *partition_read(struct manager *m, struct vm *vm);
/* The cgroup directory of controller ctl for vm ("" when none). */
void partition_dir(struct manager *m, const char *vm, const char *ctl, char *out, size_t size);

/* lifecycle.c: the verbs. Each returns 0 and runs on its own thread (the answer comes through
 * done), or an error status with the reason. */
struct api_response;
int lifecycle_begin(struct manager *m, struct vm *vm, const char *verb, char *err, size_t errlen);
void lifecycle_autostart(struct manager *m);
/* Run verb for vm synchronously (the VM is marked busy by the caller). */
int lifecycle_run(struct manager *m, struct vm *vm, const char *verb, char *err, size_t errlen);
/* Start vm's worker from the snapshot directory dir (a revert). */
int lifecycle_restore(struct manager *m, struct vm *vm, const char *dir, char *err, size_t errlen);

struct api_response;
typedef void (*api_done_fn)(void *opaque, struct api_response *resp);
int lifecycle_async(struct manager *m, struct vm *vm, const char *verb, api_done_fn done, void *opaque);

/* partition.c */
void partition_remove(struct manager *m, const char *vm);

/* worker.c */
int worker_call(struct manager *m, struct vm *vm, const char *method, const char *path, json_t *body,
		char *err, size_t errlen);
bool worker_wait_end(struct manager *m, struct vm *vm, unsigned ms);

/* main.c */
extern struct manager *the_manager;
/* Read and check <defs dir>/<name>.json (its petrel.name must be name). */
int mgr_load_definition(struct manager *m, const char *name, struct vm_def *def, char *err, size_t errlen);
/* The HTTP status for a -errno of petreld's. */
unsigned mgr_status_of(int e);

/* supervise.c */
void supervise_ended(struct manager *m, struct vm *vm, int status);
void supervise_loop(struct manager *m);
void supervise_wake(struct manager *m);

/* stats.c: the number after "KEY:" or "KEY " in a file of such lines (key NULL: its first
 * line's), or -1. */
long long mgr_read_ll(const char *path, const char *key);
/* stats.c: every VM's CPU time, memory and I/O (GET /stats, petrelctl top). */
json_t *stats_json(struct manager *m);

/* machine.c: vCPUs and memory of a running VM (PATCH /vms/NAME/machine); -1: unchanged. */
int machine_parse(json_t *o, long *vcpus, long *mem_mib, char *err, size_t errlen);
int machine_apply(struct manager *m, struct vm *vm, long vcpus, long mem_mib, char *err, size_t errlen);

/* console.c: GET /vms/NAME/console, the worker's console output for a reader. */
void *console_reader_new(struct manager *m, const char *vm);
void console_stream(void *reader, int fd);

/* console_input.c: the worker's stdin, a FIFO <state>/sock/<name>.in, for typing into the
 * guest's serial console. open returns the fd the worker gets as its stdin. */
int console_input_open(struct manager *m, const char *vm, char *err, size_t errlen);
void console_input_remove(struct manager *m, const char *vm);
int console_input_write(struct manager *m, struct vm *vm, const char *keys, size_t len, char *err, size_t errlen);

/* worker.c: the worker up, its API answering, its jail filled; *fc: the definition's
 * Firecracker part with the worker's paths (the caller frees it). On failure it is killed. */
int worker_launch(struct manager *m, struct vm *vm, const char *restore, json_t **fc, char *err, size_t errlen);

/* replica.c: replicated VMs (docs/manager.md#replicated-vms): /vms/NAME/replica[/VERB]. */
struct api_response;
/* Answers into r and returns NULL, or returns the verb to run (lifecycle_async). m->lock held. */
const char *replica_route(struct manager *m, struct vm *vm, const char *method, const char *rest,
			  const char *body, size_t len, struct api_response *r);
int replica_run(struct manager *m, struct vm *vm, const char *verb, char *err, size_t errlen);
/* The worker of vm has ended (m->lock held): its part in a pair with it. */
void replica_ended(struct manager *m, struct vm *vm);
/* vm's replicated worker was re-adopted (adopt.c): follow its replication again. */
void replica_adopted(struct manager *m, struct vm *vm);
/* clone.c: N VMs from a snapshot on qcow2 overlays (POST /vms/NAME/clone). prepare parses
 * the body and checks it against the inventory (m->lock held), run makes and starts them. */
#define CLONE_MAX 1000
#define TAP_MAX 15          /* a tap's name: IFNAMSIZ - 1 */
struct clone_req {
	char snap[VM_NAME_MAX + 1];
	char prefix[VM_NAME_MAX + 1];
	unsigned count;
	bool start;
	json_t *net;        /* iface_id -> tap name, "%d": the clone's number */
};
int vmclone_parse(const char *body, size_t len, const char *vm, struct clone_req *q, char *err, size_t errlen);
int vmclone_prepare(struct manager *m, struct vm *vm, const char *body, size_t len, char *err, size_t errlen);
int vmclone_run(struct manager *m, struct vm *src, char *err, size_t errlen);
void vmclone_free(void *req);

/* jail_backing.c: a qcow2 disk's backing chain, linked into the jail beside it. */
struct qcow2_header;
/* The qcow2 header of path: 1 (qcow2), 0 (not: format "raw", or probed), or -errno. */
int disk_qcow2_header(const char *path, const char *format, struct qcow2_header *h, char *err, size_t errlen);
int jail_link_backing(json_t *fc, const char *root, char *err, size_t errlen);

/* restore.c: POST /vms/NAME/restore {"backup"}: the backup's disks back, its state loaded. */
int vmrestore_parse(const char *body, size_t len, char *backup, char *err, size_t errlen);
int vmrestore_check(struct manager *m, struct vm *vm, const char *backup, char *err, size_t errlen);
int vmrestore_run(struct manager *m, struct vm *vm, const char *backup, char *err, size_t errlen);
/* The definition's drives and taps as the overrides of a snapshot load (load: its body). */
void restore_overrides(json_t *load, json_t *fc);

/* api.c */
/* Write def's document as <defs dir>/<name>.json, atomically. */
int save_definition(struct manager *m, const struct vm_def *def, char *err, size_t errlen);
struct api_server;
/* Write def's document to the definitions directory, atomically. */
int save_definition(struct manager *m, const struct vm_def *def, char *err, size_t errlen);
int mgr_api_start(struct manager *m, struct api_server **out);

#endif
