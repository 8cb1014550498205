/* A forbidden system call: every filter answers SECCOMP_RET_TRAP, the kernel sends SIGSYS
 * to the thread, and this handler writes one line
 *     seccomp: thread fc_vcpu 0: forbidden system call 110 (getppid)
 * to stderr and to the log file, then ends the process with SIGSYS. Only async-signal-safe
 * calls here, and only system calls every list allows (write, prctl(PR_GET_NAME), gettid). */
#include "seccomp/seccomp_int.h"
#include "util/log.h"
#include "util/proc_metrics.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static size_t put(char *buf, size_t len, size_t cap, const char *s)
{
	while (*s && len < cap)
		buf[len++] = *s++;
	return len;
}

static size_t put_num(char *buf, size_t len, size_t cap, long v)
{
	char tmp[24];
	size_t n = 0;
	unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		tmp[n++] = '-';
	while (n && len < cap)
		buf[len++] = tmp[--n];
	return len;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	char line[160], comm[17] = "";
	int nr = si->si_syscall;
	if (syscall(SYS_gettid) == syscall(SYS_getpid))
		memcpy(comm, "main", 5);
	else if (prctl(PR_GET_NAME, comm, 0, 0, 0) < 0 || !comm[0])
		memcpy(comm, "?", 2);
	size_t n = put(line, 0, sizeof(line), "seccomp: thread ");
	n = put(line, n, sizeof(line), comm);
	n = put(line, n, sizeof(line), ": forbidden system call ");
	n = put_num(line, n, sizeof(line), nr);
	n = put(line, n, sizeof(line), " (");
	const char *name = sc_syscall_name(nr);   /* a table made at build time */
	n = put(line, n, sizeof(line), name ? name : "unknown");
	n = put(line, n, sizeof(line) - 1, ")");
	line[n++] = '\n';
	write_all(STDERR_FILENO, line, n);
	int lfd = log_current_fd();
	if (lfd >= 0 && lfd != STDERR_FILENO)
		write_all(lfd, line, n);
	proc_metrics_fatal(SIGSYS);   /* seccomp.num_faults, in a last metrics line */
	/* Die by SIGSYS: a call no filter allows, made while SIGSYS is blocked (we are in its
	 * handler), makes the kernel take the default action: the whole process ends (and
	 * dumps core where that is enabled), as SECCOMP_RET_KILL_PROCESS would. */
	syscall(1023);
	syscall(SYS_exit_group, 128 + SIGSYS);
	for (;;)
		pause();
}

int sc_sigsys_install(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}
