/* Process-wide metric counters and the fatal-signal line: see proc_metrics.h. */
#include "util/proc_metrics.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define PM_SANITIZER 1   /* the runtime reports faults itself */
#else
#define PM_SANITIZER 0
#endif

uint64_t proc_metrics_[PM_COUNT];

static int sink_fd = -1;
static char sink_id[65];

static const struct {
	const char *group, *name;
	int signo;
} info[PM_COUNT] = {
	[PM_SIGBUS] = { "signals", "sigbus", SIGBUS },
	[PM_SIGSEGV] = { "signals", "sigsegv", SIGSEGV },
	[PM_SIGXFSZ] = { "signals", "sigxfsz", SIGXFSZ },
	[PM_SIGXCPU] = { "signals", "sigxcpu", SIGXCPU },
	[PM_SIGPIPE] = { "signals", "sigpipe", SIGPIPE },
	[PM_SIGHUP] = { "signals", "sighup", SIGHUP },
	[PM_SIGILL] = { "signals", "sigill", SIGILL },
	[PM_SECCOMP_FAULTS] = { "seccomp", "num_faults", SIGSYS },
	[PM_PANICS] = { "vmm", "panic_count", SIGABRT },
	[PM_DEVICE_EVENTS] = { "vmm", "device_events", 0 },
};

const char *proc_metric_group(enum proc_metric m)
{
	return (unsigned)m < PM_COUNT ? info[m].group : NULL;
}

const char *proc_metric_name(enum proc_metric m)
{
	return (unsigned)m < PM_COUNT ? info[m].name : NULL;
}

void proc_metric_signal(int signo)
{
	for (int m = 0; m < PM_COUNT; m++)
		if (info[m].signo == signo) {
			proc_metric_inc((enum proc_metric)m);
			return;
		}
}

void proc_metrics_set_sink(int fd, const char *id)
{
	size_t n = 0;
	/* the id first, then the descriptor that makes a handler use it */
	__atomic_store_n(&sink_fd, -1, __ATOMIC_SEQ_CST);
	for (; id && id[n] && n < sizeof(sink_id) - 1; n++)
		sink_id[n] = id[n];
	sink_id[n] = '\0';
	__atomic_store_n(&sink_fd, fd, __ATOMIC_SEQ_CST);
}

/* ---- the last line, with async-signal-safe calls only ---- */

static size_t put(char *buf, size_t len, size_t cap, const char *s)
{
	while (*s && len < cap)
		buf[len++] = *s++;
	return len;
}

static size_t put_u64(char *buf, size_t len, size_t cap, uint64_t v)
{
	char tmp[24];
	size_t n = 0;
	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n && len < cap)
		buf[len++] = tmp[--n];
	return len;
}

/* The counters a fatal line carries: the fatal ones (each is the increase since the last
 * line: a process dies of the first). */
static const enum proc_metric fatal_fields[] = {
	PM_SIGBUS, PM_SIGSEGV, PM_SIGXFSZ, PM_SIGXCPU, PM_SIGILL, PM_SECCOMP_FAULTS, PM_PANICS,
};

void proc_metrics_fatal(int signo)
{
	proc_metric_signal(signo);
	int fd = __atomic_load_n(&sink_fd, __ATOMIC_SEQ_CST);
	if (fd < 0)
		return;
	char line[512];
	size_t n = 0, cap = sizeof(line) - 2;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	n = put(line, n, cap, "{\"utc_timestamp_ms\":");
	n = put_u64(line, n, cap, (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
	if (sink_id[0]) {
		n = put(line, n, cap, ",\"id\":\"");
		n = put(line, n, cap, sink_id);   /* [A-Za-z0-9-] only (checked by the CLI) */
		n = put(line, n, cap, "\"");
	}
	const char *group = NULL;
	for (size_t i = 0; i < sizeof(fatal_fields) / sizeof(fatal_fields[0]); i++) {
		enum proc_metric m = fatal_fields[i];
		if (!group || strcmp(group, info[m].group)) {
			n = put(line, n, cap, group ? "}," : ",");
			n = put(line, n, cap, "\"");
			n = put(line, n, cap, info[m].group);
			n = put(line, n, cap, "\":{");
			group = info[m].group;
		} else {
			n = put(line, n, cap, ",");
		}
		n = put(line, n, cap, "\"");
		n = put(line, n, cap, info[m].name);
		n = put(line, n, cap, "\":");
		n = put_u64(line, n, cap, proc_metric_get(m));
	}
	line[n++] = '}';
	line[n++] = '}';
	n = n < sizeof(line) ? n : sizeof(line) - 1;
	line[n++] = '\n';
	const char *p = line;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			break;
		p += w;
		n -= (size_t)w;
	}
}

static void on_fatal(int signo)
{
	int saved = errno;
	proc_metrics_fatal(signo);
	errno = saved;
	/* SA_RESETHAND put the default action back; the signal is blocked until we return, and
	 * then kills the process as it would have without us (a core where enabled). */
	raise(signo);
}

static void on_sigpipe(int signo)
{
	(void)signo;
	proc_metric_inc(PM_SIGPIPE);
}

void proc_metrics_fault_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGBUS);
	sigaddset(set, SIGSEGV);
	sigaddset(set, SIGILL);
	sigaddset(set, SIGFPE);
	sigaddset(set, SIGXFSZ);
	sigaddset(set, SIGPIPE);
	sigaddset(set, SIGABRT);
}

int proc_metrics_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_sigpipe;
	sa.sa_flags = SA_RESTART;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	static const int fatal[] = { SIGXFSZ, SIGXCPU, SIGBUS, SIGSEGV, SIGILL, SIGABRT };
	size_t nfatal = PM_SANITIZER ? 2 : sizeof(fatal) / sizeof(fatal[0]);
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigfillset(&sa.sa_mask);
	for (size_t i = 0; i < nfatal; i++)
		if (sigaction(fatal[i], &sa, NULL) < 0)
			return -errno;
	return 0;
}
