/* petreld, the host service (docs/manager.md): keeps a host's VMs as definition files plus one
 * petrel worker process per running VM, started through petrel-jailer and driven through the
 * worker's API socket. petreld never touches KVM itself. This header: the service (struct
 * manager) and its record of a VM (struct mgr_vm, vm.c). How the files are layered:
 * docs/development.md, "petreld's layers".
 *
 * Threads: the API server's (src/http/server.c) runs the handlers (routes.c) under m->lock; verbs
 * that wait on a worker (start, shutdown, ...) run as jobs on a thread of their own (jobs.c)
 * with the VM marked busy, so the API never waits on a guest; the main thread supervises
 * (supervise.c): it reaps workers, sees them die through pidfds and applies restart policies. */
#ifndef PETREL_MANAGER_MGR_H
#define PETREL_MANAGER_MGR_H

#include "manager/definition.h"

#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mgr_vm_state { VM_SHUTOFF, VM_STARTING, VM_RUNNING, VM_PAUSED, VM_CRASHED,
		VM_STANDBY /* a replication standby's worker: holds the guest, does not run it */ };
enum replica_role { REPLICA_NONE, REPLICA_PRIMARY, REPLICA_STANDBY };
struct mgr_job;
struct mgr_net;
struct worker_follow;

struct mgr_vm {
	struct mgr_vm *next;
	struct vm_def def;
	enum mgr_vm_state state;
	const struct mgr_job *job;  /* the job running on it (job.h, jobs.c): it is busy; or NULL */
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
	bool incoming;              /* arriving by live migration: not defined here until it runs (peer.h) */
	/* replica.c: its part in a replicated pair, what the verb asked, what its worker says */
	enum replica_role replica;
	json_t *replica_args;       /* the last replica verb's body: what the pair was asked (owned, kept
				     * in the run state) */
	json_t *replica_status;     /* the worker's GET /replication, refreshed (owned) */
	char promoted_by[65];       /* who promoted this standby (its promote's "by"), "" if none said */
	uint64_t serial;            /* supervise.c: tells this VM from a later one at its address */
	uint64_t launch_t0;         /* worker.c: when its last start began (CLOCK_MONOTONIC ms) */
	unsigned launch_ms[3];      /* ... and ms from then to spawned, API answering, jail filled */
	struct worker_follow *events; /* worker_events.c: its worker's events file followed, or NULL */
	unsigned long long resets;  /* the guest's resets in its current worker (the worker's count) */
	json_t *taps;               /* net/net_taps.c: the taps petreld made for its worker, [{"tap",
				     * "network", "iface_id"}] (owned; kept in the run state), or NULL */
	json_t *arriving_leases;    /* a migration's arrival: the DHCP leases its MACs held on the source,
				     * [{"mac", "ip", "expiry"}], which its taps' guards allow until they
				     * expire (net/net_taps.c); NULL: none */
	json_t *guest_ifs;          /* guest.c: its guest agent's interfaces, [{"name", "mac", "addresses":
				     * [{"address", "prefix"}]}], from its current worker (owned), or NULL */
};

struct manager {
	pthread_mutex_t lock;
	struct mgr_vm *vms;
	struct mgr_net *nets;       /* the host networks (net/net_inventory.h) */
	int wake;                   /* eventfd: the supervisor has something to look at */
	int worker_events;          /* inotify: the workers' events files (worker_events.c), -1: none */
	/* configuration */
	const char *state_dir;      /* /run/petreld: run/<name>.json, logs, worker sockets */
	const char *defs_dir;       /* /etc/petreld/vms: <name>.json */
	const char *socket_path;
	const char *socket_group;   /* --socket-group: the socket's group (NULL: petrel, if it exists) */
	const char *petrel;         /* the worker binary */
	const char *jailer;         /* NULL: workers run without the jailer (--no-jailer) */
	const char *jail_base;
	const char *snapshot_dir;   /* /var/lib/petreld/snapshots */
	const char *image_dir;      /* /var/lib/petreld/images: the image store (images.h) */
	const char *backup_jobs_dir; /* backup jobs' definitions and state (backup_jobs.h): <defs dir>/../backup-jobs */
	const char *test_clock;     /* --test-clock FILE: the schedules' clock (test_clock.h), or NULL: the real one */
	const char *vars_template;  /* OVMF's variables template a UEFI VM's file is made from (uefi_vars.h) */
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

extern struct manager *the_manager;

/* vm.c: the inventory */
struct mgr_vm *mgr_vm_find(struct manager *m, const char *name);
const char *mgr_vm_state_name(enum mgr_vm_state s);
json_t *mgr_vm_to_json(struct manager *m, struct mgr_vm *vm);
/* What a listing shows (GET /list): name, state, pid, operation, addresses and resources if set. */
json_t *mgr_vm_brief_json(struct manager *m, struct mgr_vm *vm);
/* The addresses its guest agent last reported (guest.c's watcher), loopback left out: a new
 * array, or NULL when the agent said nothing yet. */
json_t *mgr_vm_guest_addresses(const struct mgr_vm *vm);
void mgr_vm_free(struct mgr_vm *vm);
/* Where vm's snapshots are, <snapshot dir>/<vm>[/<snap>], and its backups,
 * <snapshot dir>/<vm>.backups[/<name>]: 0, or -ENAMETOOLONG. */
int mgr_vm_snapshot_dir(struct manager *m, const char *vm, const char *snap, char *out, size_t size);
int mgr_vm_backup_dir(struct manager *m, const char *vm, const char *name, char *out, size_t size);
bool mgr_vm_has_snapshot(struct manager *m, const char *vm, const char *snap);

#endif
