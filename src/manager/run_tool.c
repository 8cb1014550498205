/* A host program run to its end (run_tool.h), an ordinary child waited for through its pidfd.
 * No other thread of petreld may reap it: the supervisor waits for its workers by their pids,
 * never waitpid(-1) (supervise.c reap). (A clone with another exit signal would not hide it: an
 * exec'd child reports to its parent with SIGCHLD whatever it was cloned with.) */
#include "manager/run_tool.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* The child, in a copy of petreld's memory: only system calls until execve. */
static __attribute__((noreturn)) void child(const char *const argv[], const char *const envp[], int null, int out)
{
	if (dup2(null, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
		_exit(126);
	syscall(SYS_close_range, 3, ~0u, 0);
	execve(argv[0], (char *const *)argv, (char *const *)envp);
	_exit(127);
}

int run_tool(const char *const argv[], const char *const envp[], char *err, size_t errlen)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	int pipefd[2];
	_cleanup_close_ int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null < 0 || pipe2(pipefd, O_CLOEXEC) < 0)
		return error_set(err, errlen, -errno, "%s: %s", name, strerror(errno));
	_cleanup_close_ int rd = pipefd[0];
	int pidfd = -1;
	struct clone_args ca = { .flags = CLONE_PIDFD, .pidfd = (uint64_t)(uintptr_t)&pidfd, .exit_signal = SIGCHLD };
	long pid = syscall(SYS_clone3, &ca, sizeof(ca));
	if (pid == 0)
		child(argv, envp, null, pipefd[1]);
	int e = errno;
	close(pipefd[1]);
	if (pid < 0)
		return error_set(err, errlen, -e, "%s: cannot start it: %s", name, strerror(e));
	_cleanup_close_ int pfd = pidfd;
	/* What it says (the first part of it, for the error), to its end or the deadline. */
	char said[512];
	size_t n = 0;
	uint64_t end = now_ms() + RUN_TOOL_TIMEOUT_MS;
	bool timed_out = false;
	for (;;) {
		struct pollfd p = { rd, POLLIN, 0 };
		uint64_t t = now_ms();
		int r = t < end ? poll(&p, 1, (int)(end - t)) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			timed_out = true;
			syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0);
			break;
		}
		char buf[4096];
		ssize_t got = read(rd, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		size_t take = (size_t)got < sizeof(said) - 1 - n ? (size_t)got : sizeof(said) - 1 - n;
		memcpy(said + n, buf, take);
		n += take;
	}
	said[n] = 0;
	while (n && (said[n - 1] == '\n' || said[n - 1] == ' '))
		said[--n] = 0;
	siginfo_t si = { 0 };
	while (waitid((idtype_t)P_PIDFD, (id_t)pfd, &si, WEXITED) < 0)
		if (errno != EINTR)
			return error_set(err, errlen, -errno, "%s: cannot wait for it: %s", name, strerror(errno));
	if (timed_out)
		return error_set(err, errlen, -ETIMEDOUT, "%s: no end after %d ms: killed", name, RUN_TOOL_TIMEOUT_MS);
	if (si.si_code == CLD_EXITED && si.si_status == 0)
		return 0;
	if (si.si_code == CLD_EXITED && si.si_status == 127)
		return error_set(err, errlen, -ENOENT, "%s: cannot run %s (not installed?)", name, argv[0]);
	return error_set(err, errlen, -EIO, "%s: %s %d%s%s", name, si.si_code == CLD_EXITED ? "exit status" : "killed by signal",
			 si.si_status, n ? ": " : "", said);
}
