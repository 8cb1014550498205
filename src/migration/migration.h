/* Live migration (docs/migration.md): the source sends a running VM's memory round after round
 * while the guest runs (pre-copy, dirty logging), then pauses it, sends the last pages and
 * every state (the snapshot sections of src/snapshot), and exits once the destination runs
 * the guest. The destination builds the machine from the definition it receives first, fills
 * its memory, loads the states and starts the vCPUs. Each side runs it on a thread of its own;
 * the API reads progress from the status. */
#ifndef PETREL_MIGRATION_MIGRATION_H
#define PETREL_MIGRATION_MIGRATION_H

#include "snapshot/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_config;
struct tls_creds;

enum mig_state { MIG_STATE_NONE, MIG_STATE_ACTIVE, MIG_STATE_COMPLETED, MIG_STATE_FAILED };
enum mig_mode { MIG_MODE_PRECOPY, MIG_MODE_POSTCOPY, MIG_MODE_AUTO };

struct mig_status {
	enum mig_state state;
	bool source;
	enum mig_mode mode;
	char peer[256];                 /* the other side's URL */
	char reason[512];               /* why it failed */
	unsigned iteration;             /* pre-copy round (0: the first full pass) */
	uint64_t bytes_sent;            /* page data and states on the wire (source) or received */
	uint64_t pages_sent, zero_pages;
	uint64_t bytes_remaining;       /* dirty at the last count */
	double dirty_rate_mib_s;        /* the guest's, over the last round */
	double bandwidth_mib_s;         /* the link's, over the last round */
	double expected_downtime_ms;    /* remaining / bandwidth at the last count */
	double downtime_ms;             /* achieved: source pause -> destination's first KVM_RUN */
	double total_ms;                /* start -> the guest runs on the destination */
	double restore_ms;              /* destination: states received -> loaded */
	unsigned downtime_limit_ms;
	unsigned throttle_percent;      /* auto-converge: share of time the vCPUs are held */
	bool postcopy;                  /* switched to post-copy */
	uint64_t postcopy_faults;       /* destination: pages the guest waited for (requested) */
	uint64_t postcopy_pushed;       /* pages sent after the switch, requested or pushed */
	double postcopy_fault_us_p50;   /* destination: fault -> page in, for requested pages */
	double postcopy_fault_us_max;
};

struct mig_send_opts {
	const char *url;                /* tcp:HOST:PORT or unix:PATH */
	unsigned downtime_ms;           /* the pause the guest may see (default 300) */
	enum mig_mode mode;
	unsigned timeout_s;             /* give up (and keep running here) after this (default 600) */
	unsigned max_bandwidth_mib_s;   /* pace the stream to this (0: as fast as it goes) */
	bool migrate_disks;             /* copy the drives too (no shared storage) */
	struct tls_creds *tls;          /* a tls: url's credentials (util/tls.h; the migration takes a reference) */
};

struct mig_receive_opts {
	const char *url;                /* where to listen */
	struct snapshot_load_opts load; /* network_overrides, vsock_override (paths unused) */
	int console_out_fd;
	unsigned timeout_s;             /* wait this long for the source (0: for ever) */
	struct tls_creds *tls;          /* a tls: url's credentials (the migration takes a reference) */
};

struct migration;
/* Called once on the migration's thread when it ends: err 0 (source: the destination runs the
 * guest now; destination: the VM runs here) or -errno with the reason in the status. */
typedef void (*mig_done_fn)(void *opaque, struct migration *m, int err);

/* Start sending vm (running or paused) to o->url. 0 or -errno with err. */
int migration_send_start(struct vm *vm, const struct mig_send_opts *o, mig_done_fn done, void *opaque,
			 struct migration **out, char *err, size_t errlen);
/* Listen on o->url now (errors reported here) and receive one VM in the background into vm
 * (zeroed storage) with its definition in *cfg (which must stay alive with the VM). */
int migration_receive_start(struct vm *vm, struct vm_config *cfg, const struct mig_receive_opts *o,
			    mig_done_fn done, void *opaque, struct migration **out, char *err, size_t errlen);
void migration_status(struct migration *m, struct mig_status *out);
/* Stop it (an active one fails: the source keeps its guest), join the thread, free. */
void migration_free(struct migration *m);
/* A destination's owner asks it to stop: true if it will (it fails, its source keeps the
 * guest; migration_free then joins it), false once it is past the point of no return (its
 * vCPUs run here: the done callback will say it arrived, or failed after that). */
bool migration_cancel(struct migration *m);

const char *mig_state_name(enum mig_state s);
const char *mig_mode_name(enum mig_mode m);

#endif
