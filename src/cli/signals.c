/* The process-wide signal setup both command lines share, and their common option values. */
#include "cli/cli.h"
#include "util/event_monitor.h"
#include "util/log.h"
#include "util/proc_metrics.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

void cli_control_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);  /* stop the VM */
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGUSR2); /* log where every vCPU is */
}

void cli_block_signals(void)
{
	sigset_t set;
	cli_control_signals(&set);
	sigaddset(&set, SIGUSR1); /* vCPU kicks: each vCPU thread unblocks it for itself */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	/* SIGPIPE counted and otherwise ignored (the write sees EPIPE), faults counted for the
	 * metrics' signals group before they kill */
	if (proc_metrics_install() < 0) {
		log_warn("cannot install the signal handlers of the metrics: %s", strerror(errno));
		signal(SIGPIPE, SIG_IGN);
	}
}

/* The first signal that asked petrel to stop (cli_exit ends the process with it). */
static int stop_signal;

void cli_note_signal(int signo)
{
	proc_metric_signal(signo);   /* SIGHUP for the metrics; the others count nothing */
	int none = 0;
	if (signo == SIGINT || signo == SIGTERM || signo == SIGHUP)
		__atomic_compare_exchange_n(&stop_signal, &none, signo, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

int cli_exit(int status)
{
	int sig = __atomic_load_n(&stop_signal, __ATOMIC_SEQ_CST);
	char name[16];
	snprintf(name, sizeof(name), "SIG%s", sig ? sigabbrev_np(sig) : "");
	if (sig)
		event_emit("vmm", "exiting", "{s:i,s:s}", "signal", sig, "signal_name", name);
	else
		event_emit("vmm", "exiting", "{s:i}", "status", status);
	event_monitor_close(1000);
	if (!sig)
		return status;
	/* As a Unix program that catches a fatal signal ends: cleaned up, it dies by the same
	 * signal, so that its parent's wait says "killed by SIGTERM" (Firecracker, which does not
	 * catch it, ends that way too). */
	fflush(stdout);
	fflush(stderr);
	struct sigaction sa = { .sa_handler = SIG_DFL };
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	raise(sig);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	/* Still here: the kernel drops a signal the first process of a PID namespace (petrel
	 * under the jailer's --new-pid-ns) sends itself; the shell's convention then. */
	return 128 + sig;
}

int cli_control_signalfd(void)
{
	sigset_t set;
	cli_control_signals(&set);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		log_error("cannot watch for signals: %s", strerror(errno));
	return sfd;
}

int cli_wait_readable(int fd, int sfd)
{
	for (;;) {
		struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			return -1;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo != SIGUSR2) {
				cli_note_signal((int)si.ssi_signo);
				return (int)si.ssi_signo;
			}
		}
		if (p[0].revents)
			return 0;
	}
}

int cli_parse_pvm(const char *arg, int *out)
{
	if (!strcmp(arg, "auto"))
		*out = -1;
	else if (!strcmp(arg, "on"))
		*out = 1;
	else if (!strcmp(arg, "off"))
		*out = 0;
	else {
		log_error("--pvm: expected auto, on or off, not '%s'", arg);
		return -EINVAL;
	}
	return 0;
}
