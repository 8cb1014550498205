/* The kinds of petrel thread. Each runs under its kind's seccomp filter (src/seccomp) and on
 * its kind's host CPUs (util/affinity.h); util/thread.h starts a thread of a kind. The list
 * lives here, below both, so that the thread launcher needs nothing of the seccomp layer. */
#ifndef PETREL_UTIL_THREAD_KIND_H
#define PETREL_UTIL_THREAD_KIND_H

enum sc_kind {
	SC_MAIN,        /* main: CLI, console, `petrel run` builds the VM here */
	SC_API,         /* fc_api: the HTTP server and the request handlers */
	SC_VMM,         /* fc_vmm: the controller's worker (start, pause, snapshots) */
	SC_VCPU,        /* fc_vcpu N: KVM_RUN and device emulation */
	SC_IO,          /* fc_io: virtio queues, backends, timers */
	SC_PVM_IDLE,    /* fc_pvm_idle: the PVM idle kicker */
	SC_PAGER,       /* petrel_pager: lazy snapshot restore (userfaultfd) */
	SC_MIGRATION,   /* petrel_mig: a migration, either end (builds the VM when receiving) */
	SC_THROTTLE,    /* petrel_thrott: auto-converge */
	SC_POSTCOPY,    /* petrel_pcfault, petrel_pcpage: post-copy destination */
	SC_REPLICATION, /* petrel_repl: replication, primary or standby (builds the VM on takeover) */
	SC_VNC,         /* petrel_vnc: the VNC server of a VM with a display (src/ui) */
	SC_KIND_MAX,
	SC_SPAWN = SC_KIND_MAX, /* fc_spawn: creates the others; the union of their lists */
	SC_KIND_ALL,
	SC_KIND_NONE = -1,
};

const char *sc_kind_name(int kind);
int sc_kind_from_name(const char *name);   /* SC_KIND_NONE if unknown */

#endif
