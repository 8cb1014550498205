/* The controller's core: what the resource files (ctl_*.c, one per API resource) share with
 * each other and nobody else: the checks every request makes, small JSON helpers, the
 * overrides of an arriving VM, and the hooks through which the core (core.c: lifecycle, the
 * worker) reaches the resources without calling them. A resource file includes this header
 * and calls only the core; the front (routes.c, vm_config.c, resources.c) calls the resources.
 * See controller.h for the public side and docs/development.md for the layers. */
#ifndef PETREL_API_CORE_H
#define PETREL_API_CORE_H

#include "api/controller.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

/* Firecracker's answer to a request that needs a running microVM, before InstanceStart. */
#define CTL_NOT_BEFORE_START "The requested operation is not supported before starting the microVM."

/* Running or paused: the VM exists. The caller holds the lock. */
static inline bool started(const struct controller *ctl)
{
	return ctl->state == INSTANCE_RUNNING || ctl->state == INSTANCE_PAUSED;
}

/* ---- core_checks.c ---- */

/* Pre-boot-only requests: 0 or -EBUSY naming `what`. The caller holds the lock. */
int ctl_check_not_started(const struct controller *ctl, const char *what, char *err,
			  size_t errlen);
/* The file must exist and be readable (and writable when asked) when it is configured. */
int ctl_check_file(struct controller *ctl, const char *what, const char *path, bool write, bool block_ok,
		   char *err, size_t errlen);
/* The id in a device body must be the one in the path. */
int ctl_check_path_id(const char *field, const char *body_id, const char *path_id, char *err,
		      size_t errlen);
/* PATCH of a device: only on a running microVM, only for a device it has. Lock held. */
int ctl_check_patch_device(struct controller *ctl, const char *kind, bool exists, const char *id,
			   char *err, size_t errlen);
/* A live migration (either role) / a primary's replication is under way. Lock held. */
bool ctl_migration_active(struct controller *ctl);
bool ctl_replication_active(struct controller *ctl);
/* Parse one section of the config-file format (vm_config_parse_json, so the API and
 * --config-file accept exactly the same objects) into *tmp, a scratch config. */
int ctl_parse_section(const char *section, json_t *body, struct vm_config *tmp, char *err,
		      size_t errlen);
/* *dst = *src (freeing the old *dst); *src = NULL. */
void ctl_take(char **dst, char **src);
/* *dst = a copy of src (NULL stays NULL), the old *dst freed: 0 or -ENOMEM. */
int ctl_dup_opt(char **dst, const char *src);
/* JSON bodies: only the allowed keys; an optional non-empty string (NULL when absent or null);
 * an optional boolean (dflt when absent or null); a required or optional string copied into
 * *out (where: the message's prefix). */
int ctl_json_fields(json_t *obj, const char *what, const char *const *allowed, char *err,
		    size_t errlen);
int ctl_json_opt_str(json_t *obj, const char *key, const char **out, char *err, size_t errlen);
int ctl_json_opt_bool(json_t *obj, const char *key, bool dflt, bool *out, char *err, size_t errlen);
int ctl_json_dup_str(json_t *o, const char *where, const char *key, bool required, char **out,
		     char *err, size_t errlen);
const char *ctl_level_name(enum log_level l);
/* Record how long an operation that succeeded took since t0_ns (now_ns()). */
void ctl_note_latency(struct controller *ctl, enum ctl_latency which, uint64_t t0_ns);

/* ---- core.c ---- */

/* The metadata service's store, made on first use (shared by PUT /mmds, the VM's MMDS
 * interfaces and a snapshot load). The caller holds the lock. NULL: out of memory. */
struct mmds *ctl_mmds_service_locked(struct controller *ctl);

/* ---- core_agent.c: the guest agent's client with the VM (docs/guest-agent.md) ---- */

/* Before a VM is built from cfg: when cfg enables the agent, ctl->agent made (or, for a VM
 * that replaces one, given a new connection) and cfg->guest_agent_fd set to the device's end.
 * 0 or -errno with why. */
int ctl_agent_prepare(struct controller *ctl, struct vm_config *cfg, char *err, size_t errlen);
/* After the build (built: it worked): our copy of the device's end closed, and the client
 * told how to see whether the guest opened the port. */
void ctl_agent_attach(struct controller *ctl, struct vm *vm, struct vm_config *cfg, bool built);
/* An incoming migration, before its definition is known (lock held): a client made (or
 * reconnected) and load told the device end, which the arrived definition takes if it
 * enables the agent. ctl_agent_arrived, once the migration ended (e: its result), keeps the
 * client only for such a definition and sets the guest's clock. */
struct snapshot_load_opts;
int ctl_agent_incoming_locked(struct controller *ctl, struct snapshot_load_opts *load, char *err, size_t errlen);
void ctl_agent_arrived(struct controller *ctl, struct vm *vm, int e);
/* A restored or arrived VM that runs: its file systems thawed when the guest was saved frozen
 * (a file-system consistent snapshot or backup), then guest-set-time from the host's clock
 * (best effort, logged; each request bounded by the agent's timeout). */
void ctl_agent_resumed(struct controller *ctl);

/* ---- hooks: what the resources hand the core (the tables are resources.c's) ---- */

/* One per resource that holds something the core must reach; any hook may be NULL. */
struct ctl_resource {
	const char *name;
	/* ctl_free, before the VM goes: drop what the resource holds (a migration source
	 * resumes its guest, a replication primary tells its standby not to take over). */
	void (*free)(struct controller *ctl);
	/* A metrics line: add the resource's groups to out. The caller holds the lock. */
	int (*metrics_locked)(struct controller *ctl, json_t *out);
	/* Write the periodic output (the metrics line) now: 0 or -errno. Lock held; called
	 * only when metrics are configured. */
	int (*flush_locked)(struct controller *ctl);
};
/* In the order the hooks run; ends with an entry whose name is NULL. */
extern const struct ctl_resource ctl_resources[];

/* What the worker does for each enum ctl_action: run (on the worker thread; err gets the
 * message of a failure), then free_arg(arg) when set. */
struct ctl_action_ops {
	int (*run)(struct controller *ctl, void *arg, char *err, size_t errlen);
	void (*free_arg)(void *arg);
	json_t *(*take_answer)(void *arg);   /* after a run that succeeded: a 200's body, or NULL */
};
extern const struct ctl_action_ops ctl_actions[];   /* indexed by enum ctl_action */

/* ---- the resources' functions the tables name (resources.c) ---- */

/* ctl_instance.c: PATCH /vm on the calling thread (the worker): waits for the vCPUs. */
int ctl_pause_resume(struct controller *ctl, bool pause, char *err, size_t errlen);
/* ctl_metrics.c: write one metrics line now: 0 or -errno (-ENOMEM: no counters). The caller
 * holds the lock and has checked that metrics are configured. */
int ctl_metrics_flush_locked(struct controller *ctl);

/* core_adopt.c: a snapshot load's or an incoming migration's network_overrides,
 * vsock_override and petrel's drive_overrides (strict; copies kept until ctl_overrides_free). */
#include "snapshot/snapshot.h"
struct ctl_overrides {
	char *net_iface[SNAP_MAX_NET_OVERRIDES], *net_dev[SNAP_MAX_NET_OVERRIDES];
	unsigned nnet;
	char *vsock_uds;
	char *drive_id[SNAP_MAX_NET_OVERRIDES], *drive_path[SNAP_MAX_NET_OVERRIDES];  /* petrel's */
	int drive_format[SNAP_MAX_NET_OVERRIDES];   /* -1: keep the drive's; else enum disk_format */
	unsigned ndrive;
};
int ctl_overrides_parse(json_t *body, struct ctl_overrides *ov, char *err, size_t errlen);
/* Point the load options at them (they must outlive o's use). */
void ctl_overrides_apply(const struct ctl_overrides *ov, struct snapshot_load_opts *o);
void ctl_overrides_free(struct ctl_overrides *ov);
/* A fresh instance takes a VM from elsewhere (an incoming migration, a standby): it must not
 * be started nor have boot resources; the body's overrides go to a new *ov applied to *load, a
 * new *vm is zeroed storage for the machine, the instance is STARTING with an empty definition
 * the arriving one fills. The caller holds the lock. 0 or -errno with err. */
int ctl_adopt_begin(struct controller *ctl, json_t *body, const char *what, struct ctl_overrides **ov,
		    struct vm **vm, struct snapshot_load_opts *load, int *console_fd, char *err, size_t errlen);
/* Undo it (the receive could not start): a fresh instance again. Lock held. */
void ctl_adopt_abort(struct controller *ctl, struct ctl_overrides **ov, struct vm **vm);

/* core_checks.c: a body's "tls_dir" (ca.pem, cert.pem, key.pem for a tls: url), loaded now
 * into *out (NULL without one; tls_creds_free it): a missing or bad file is the request's
 * error (-EINVAL with the reason). Migration's and replication's bodies. */
struct tls_creds;
int ctl_tls_field(json_t *b, struct tls_creds **out, char *err, size_t errlen);

#endif
