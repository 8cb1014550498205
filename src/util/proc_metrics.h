/* Process-wide counters behind Firecracker's `signals`, `seccomp` and `vmm` metric groups.
 *
 * They are counted where no VM or controller can be reached (signal handlers, the SIGSYS
 * report, the I/O thread's dispatch), so they live here, as relaxed atomics: every function
 * below but proc_metrics_install() is async-signal-safe. The controller reads them into each
 * metrics line (api/ctl_metrics.c). A fatal signal (SIGBUS, SIGSEGV, SIGILL, SIGXFSZ, SIGXCPU,
 * SIGABRT, SIGSYS) writes one last line itself before petrel dies, with only write(2) and
 * clock_gettime(2): the timestamp and these three groups, since formatting the others is not
 * async-signal-safe. */
#ifndef PETREL_UTIL_PROC_METRICS_H
#define PETREL_UTIL_PROC_METRICS_H

#include <signal.h>
#include <stdint.h>

enum proc_metric {
	PM_SIGBUS, PM_SIGSEGV, PM_SIGXFSZ, PM_SIGXCPU, PM_SIGPIPE, PM_SIGHUP, PM_SIGILL,
	PM_SECCOMP_FAULTS,   /* seccomp.num_faults: forbidden system calls (SIGSYS) */
	PM_PANICS,           /* vmm.panic_count: abort() / a failed assertion (SIGABRT) */
	PM_DEVICE_EVENTS,    /* vmm.device_events: events the I/O thread dispatched to devices */
	PM_COUNT,
};

/* Firecracker's group and field name of a counter. */
const char *proc_metric_group(enum proc_metric m);
const char *proc_metric_name(enum proc_metric m);

static inline void proc_metric_inc(enum proc_metric m)
{
	extern uint64_t proc_metrics_[PM_COUNT];
	__atomic_fetch_add(&proc_metrics_[m], 1, __ATOMIC_RELAXED);
}

static inline uint64_t proc_metric_get(enum proc_metric m)
{
	extern uint64_t proc_metrics_[PM_COUNT];
	return __atomic_load_n(&proc_metrics_[m], __ATOMIC_RELAXED);
}

/* Count the signal (the PM_* it maps to) in a handler. */
void proc_metric_signal(int signo);

/* Where a fatal signal writes its last line (the metrics file's descriptor, -1: nowhere) and
 * the instance id to put in it (NULL: none; copied, at most 64 characters). */
void proc_metrics_set_sink(int fd, const char *id);

/* In a handler of a fatal signal: count it and write the last line (see above). */
void proc_metrics_fatal(int signo);

/* Handlers that count SIGPIPE (and carry on: the write sees EPIPE, as with SIG_IGN) and the
 * fatal signals (count, last line, then die of the same signal). Sanitizer builds keep the
 * runtime's own SIGSEGV/SIGBUS/SIGILL/SIGABRT reports. 0 or -errno. */
int proc_metrics_install(void);

/* The signals a thread leaves unblocked so that those handlers can run on it. */
void proc_metrics_fault_signals(sigset_t *set);

#endif
