/* A VM's worker process (worker.c): started (through the jailer), waited for, killed, cleaned
 * up. Below the verbs: what it starts is described by the caller (struct worker_start). */
#ifndef PETREL_MANAGER_WORKER_H
#define PETREL_MANAGER_WORKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* How a worker starts, prepared by the caller (start.c, migrate_in.c, replica.c): the worker
 * does not know the verbs. BOOT: configured from the definition, then InstanceStart. RESTORE:
 * PUT /snapshot/load; INCOMING: PUT /migration/receive, with the body action makes. */
enum worker_mode { WORKER_BOOT, WORKER_RESTORE, WORKER_INCOMING };
struct worker_start {
	enum worker_mode mode;
	/* With the jailer, once the definition's files are in the jail's root (jail_fill.c): what
	 * else the worker must reach there (a snapshot's state and memory). NULL: nothing. */
	int (*fill_jail)(struct manager *m, struct mgr_vm *vm, const char *root, void *data, char *err,
			 size_t errlen);
	/* RESTORE, INCOMING: the body of the start call into *body, from fc (the definition with
	 * the worker's paths). */
	int (*action)(struct manager *m, struct mgr_vm *vm, json_t *fc, void *data, json_t **body, char *err,
		      size_t errlen);
	void *data;
};
/* Start vm's worker as how says. 0, or -errno with err (the worker it started is killed). */
int worker_start(struct manager *m, struct mgr_vm *vm, const struct worker_start *how, char *err, size_t errlen);
/* The worker up, its API answering, its jail filled (how may be NULL: the definition's files
 * only); *fc: the definition's Firecracker part with the worker's paths (the caller frees it).
 * On failure it is killed. */
int worker_launch(struct manager *m, struct mgr_vm *vm, const struct worker_start *how, json_t **fc, char *err,
		  size_t errlen);
/* Kill the worker (SIGKILL), wait for its end and clean its jail, cgroups and files up. */
void worker_kill(struct manager *m, struct mgr_vm *vm);
/* After the worker has ended: remove its jail, cgroups, taps (net_taps.h) and run state. */
void worker_cleanup(struct manager *m, struct mgr_vm *vm);
/* Wait up to ms for the supervisor to see the worker end (vm->pid back to 0). */
bool worker_wait_end(struct manager *m, struct mgr_vm *vm, unsigned ms);
/* Where the worker writes its events (docs/events.md, --event-monitor): a file only petrel
 * writes, unlike its log, which the guest's console shares (migrate.c takes a migration's
 * figures from it). In the jail, or <state>/sock/<name>.events without one. */
void worker_events_path(struct manager *m, const struct mgr_vm *vm, char *out, size_t size);
/* Where the worker's virtio-console port port_id listens (a definition's socket_path is not a
 * path of the worker's): worker_view, the path the worker is given (inside its jail); else this
 * host's path to it. */
void worker_port_path(struct manager *m, const struct mgr_vm *vm, const char *port_id, bool worker_view, char *out,
		      size_t size);
/* Where a VM with a display serves VNC (docs/display.md#petreld): the worker's view of the path
 * (worker_view: /run/vnc.sock in its jail) or the host's (<jail>/root/run/vnc.sock); without a
 * jail <state>/sock/<name>.vnc either way. */
void worker_vnc_path(struct manager *m, const struct mgr_vm *vm, bool worker_view, char *out, size_t size);

#endif
