/* Active-passive replication (docs/high-availability.md), Remus's design: the primary runs the
 * guest and every checkpoint interval pauses it, copies what changed (dirty pages, every
 * vCPU and device state) to a staging buffer, resumes it and sends the checkpoint; the guest's
 * output to the outside is held per epoch until the standby has acknowledged that epoch's
 * checkpoint. The standby applies a checkpoint only once it has all of it, so it always holds
 * one complete state; when the primary dies (the stream ends, or goes silent past the failure
 * timeout) it resumes the guest from there by itself. */
#ifndef PETREL_HA_REPLICATION_H
#define PETREL_HA_REPLICATION_H

#include "snapshot/snapshot.h"

#include <stdbool.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct replication;
struct tls_creds;

enum repl_role { REPL_PRIMARY, REPL_STANDBY };
enum repl_state {
	REPL_WAITING,      /* standby: no primary yet */
	REPL_SYNCING,      /* the initial copy of memory while the guest runs */
	REPL_PROTECTED,    /* checkpoints flow: a failover loses nothing */
	REPL_UNPROTECTED,  /* primary: lost the standby, runs on (policy continue) */
	REPL_ACTIVE,       /* standby: took over, runs the guest */
	REPL_STOPPED,      /* ended: failed, stopped by policy, or the primary gave up */
	REPL_PRIMARY_LOST, /* standby, external takeover: the primary is gone, the last complete
			    * checkpoint is held; waits to be promoted (replication_promote) */
};
/* Who decides that a standby runs the guest: itself, when the primary's stream ends or goes
 * silent (auto); or the cluster, by promoting it (external: it never takes over by itself). */
enum repl_takeover { REPL_TAKEOVER_AUTO, REPL_TAKEOVER_EXTERNAL };
enum repl_on_loss { REPL_LOSS_CONTINUE, REPL_LOSS_STOP };

struct repl_status {
	enum repl_role role;
	enum repl_state state;
	char peer[256];
	char reason[512];              /* why it stopped, or why the standby took over */
	uint64_t generation;
	uint64_t checkpoints;          /* complete and acknowledged */
	double last_pause_us, mean_pause_us, max_pause_us;   /* primary: guest paused per checkpoint */
	uint64_t last_bytes, total_bytes;                    /* checkpoint payload */
	uint64_t output_held;          /* primary: bytes of guest output waiting for an ack */
	uint64_t output_dropped;       /* primary: bytes of it dropped (a full gate, on_standby_loss stop) */
	double failover_ms;            /* standby: failure noticed -> guest running */
	unsigned interval_ms, failure_timeout_ms;
	enum repl_takeover takeover;   /* standby */
	bool promoting;                /* standby: a promotion was asked for and is under way */
};

struct repl_primary_opts {
	const char *peer_url;          /* the standby's listen_url */
	unsigned interval_ms;          /* checkpoint interval (default 50) */
	unsigned failure_timeout_ms;   /* no acknowledgement this long: the standby is lost (default 1000) */
	enum repl_on_loss on_loss;     /* then: run on unprotected (default), or stop the guest */
	bool mirror_disks;             /* copy the drives to the standby's own images and send each
					* checkpoint's disk writes with it (default); off: shared storage */
	uint64_t generation;           /* 0: 1; a VM that took over replicates at its next one */
	struct tls_creds *tls;         /* a tls: peer_url's credentials (util/tls.h; a reference is taken) */
};

struct repl_standby_opts {
	const char *listen_url;
	unsigned failure_timeout_ms;   /* the primary silent this long after protection: take over */
	struct snapshot_load_opts load;/* network_overrides, vsock_override for this host */
	int console_out_fd;
	struct tls_creds *tls;         /* a tls: listen_url's credentials (a reference is taken) */
	enum repl_takeover takeover;
};

/* Called on the replication's thread at each change of state (the standby's REPL_ACTIVE: the
 * VM runs here now). */
typedef void (*repl_event_fn)(void *opaque, struct replication *r, enum repl_state st);

int replication_primary_start(struct vm *vm, const struct repl_primary_opts *o, repl_event_fn ev, void *opaque,
			      struct replication **out, char *err, size_t errlen);
/* Listen now (errors here) and receive into vm/cfg (zeroed storage; cfg must outlive the VM). */
int replication_standby_start(struct vm *vm, struct vm_config *cfg, const struct repl_standby_opts *o,
			      repl_event_fn ev, void *opaque, struct replication **out, char *err, size_t errlen);
void replication_status(struct replication *r, struct repl_status *out);
/* Run the guest here now, from the standby's last complete (acknowledged) checkpoint: a
 * standby that lost its primary (primary-lost), or one still following it (its stream is cut
 * and the primary must already be stopped or fenced: the caller's word). Waits up to wait_ms
 * for the guest to run. Refused (err says why): a primary (-EINVAL), no complete checkpoint
 * yet (-ENODATA), a second promotion (-EALREADY), a replication that has ended (-ESRCH);
 * -EIO: the takeover failed (the replication has stopped), -ETIMEDOUT: still under way. */
int replication_promote(struct replication *r, unsigned wait_ms, char *err, size_t errlen);
/* Its two halves, for a caller that must not wait on the thread that asks (the API): ask (0,
 * or refused as above, at once), then wait elsewhere: status(opaque) gives the replication's
 * status, false once the replication is gone (-EIO); the results are replication_promote's. */
int replication_promote_ask(struct replication *r, char *err, size_t errlen);
typedef bool (*replication_status_fn)(void *opaque, struct repl_status *st);
int replication_promote_wait(replication_status_fn status, void *opaque, unsigned wait_ms, char *err, size_t errlen);
/* Stop replicating (a primary tells its standby, which then does not take over), join, free. */
void replication_free(struct replication *r);

const char *repl_state_name(enum repl_state s);
const char *repl_takeover_name(enum repl_takeover t);
/* "auto" or "external" into *out: 0, or -EINVAL. */
int repl_takeover_parse(const char *s, enum repl_takeover *out);

#endif
