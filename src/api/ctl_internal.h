/* What the controller's files (controller.c, ctl_*.c) share with each other and nobody else.
 * See controller.h for the public side. */
#ifndef PETREL_API_CTL_INTERNAL_H
#define PETREL_API_CTL_INTERNAL_H

#include "api/controller.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

/* Format a message into err (if any) and return code: util/error.h's error_set, under the
 * short name the controller's many checks use. */
#define fail(...) error_set(__VA_ARGS__)

static inline int oom(char *err, size_t errlen)
{
	return fail(err, errlen, -ENOMEM, "out of memory");
}

/* Running or paused: the VM exists. The caller holds the lock. */
/* Firecracker's answer to a request that needs a running microVM, before InstanceStart. */
#define CTL_NOT_BEFORE_START "The requested operation is not supported before starting the microVM."

static inline bool started(const struct controller *ctl)
{
	return ctl->state == INSTANCE_RUNNING || ctl->state == INSTANCE_PAUSED;
}

/* ctl_preboot.c */
/* Pre-boot-only requests: 0 or -EBUSY naming `what`. The caller holds the lock. */
int ctl_check_not_started(const struct controller *ctl, const char *what, char *err,
			  size_t errlen);
/* The file must exist and be readable (and writable when asked) when it is configured. */
int ctl_check_file(struct controller *ctl, const char *what, const char *path, bool write, bool block_ok,
		   char *err, size_t errlen);
/* The id in a device body must be the one in the path. */
int ctl_check_path_id(const char *field, const char *body_id, const char *path_id, char *err,
		      size_t errlen);

/* ctl_runtime.c: PATCH /vm on the calling thread (the worker): waits for the vCPUs. */
int ctl_pause_resume(struct controller *ctl, bool pause, char *err, size_t errlen);

/* ctl_snapshot.c: a snapshot load's or an incoming migration's network_overrides,
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
/* Record how long an operation that succeeded took since t0_ns (now_ns()). */
void ctl_note_latency(struct controller *ctl, enum ctl_latency which, uint64_t t0_ns);
int ctl_adopt_begin(struct controller *ctl, json_t *body, const char *what, struct ctl_overrides **ov,
		    struct vm **vm, struct snapshot_load_opts *load, int *console_fd, char *err, size_t errlen);
/* Undo it (the receive could not start): a fresh instance again. Lock held. */
void ctl_adopt_abort(struct controller *ctl, struct ctl_overrides **ov, struct vm **vm);

/* ctl_migration.c: a body's "tls_dir" (ca.pem, cert.pem, key.pem for a tls: url), loaded now
 * into *out (NULL without one; tls_creds_free it): a missing or bad file is the request's
 * error (-EINVAL with the reason). Migration's and replication's bodies. */
struct tls_creds;
int ctl_tls_field(json_t *b, struct tls_creds **out, char *err, size_t errlen);

/* ctl_output.c */
const char *ctl_level_name(enum log_level l);
/* Write one metrics line now: 0 or -errno (-ENOMEM: no counters). The caller holds the lock
 * and has checked that metrics are configured. */
int ctl_metrics_flush_locked(struct controller *ctl);

#endif
