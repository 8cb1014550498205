/* --new-pid-ns: petrel runs as pid 1 of a new pid namespace, in a child of the jailer.
 *
 * The child is made with clone(CLONE_NEWPID | CLONE_VM | CLONE_VFORK), as posix_spawn makes
 * its children: it borrows the jailer's memory instead of copying its page tables (a fork
 * costs milliseconds on a virtualized host, this about 30 us), and the parent sleeps until
 * the child has either exec'd petrel or exited. So the parent knows at once how the child's
 * setup went: the child sets j->child_failed (shared memory) before it exits, after printing
 * why. The child has its own stack, file table, signal handlers and credentials; nothing it
 * does besides the failure flag matters to the parent.
 *
 * The parent stays on the host, outside the jail: it writes the child's (host) pid to
 * <jail root>/<exec name>.pid as Firecracker's jailer does. If the child failed, it removes
 * the jail and cgroups again and exits 1. Otherwise it exits 0 at once with --daemonize, or
 * waits for petrel, passing on the signals that stop or poke a process, and exits with
 * petrel's status (128 + the signal if petrel was killed).
 *
 * The child dies with the jailer: the jailer is the process its caller knows (petreld's
 * worker pid), waits for and kills, and once it has ended the caller removes the jail and
 * the cgroups. A jailer killed while its child is still building the jail (in the vfork wait)
 * or after petrel's exec left the child running on its own: it carried on, exec'd petrel in
 * a jail the caller was removing meanwhile, and petrel's loader found no libc.so.6 (the host's
 * rmdir of the jail's empty /lib detaches the tmpfs and the library binds on it in the jail's
 * namespace); or petrel, once running, stayed behind in a removed jail and in the VM's cgroup.
 * So the child takes SIGKILL as its parent-death signal first thing, and again after it gives
 * up root (a change of ids clears it), and each time checks through a pidfd that the jailer
 * has not already gone (jail_parent_watch). Not with --daemonize, where the jailer exits once
 * petrel runs: there the death signal is cleared before the exec. */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK (256 * 1024)

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
static volatile sig_atomic_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill((pid_t)child_pid, sig);
}

static void write_pid_file(const struct jail *j, pid_t pid)
{
	char path[4096], text[32];
	if (jail_path(path, sizeof(path), "%s/%s.pid", j->root, j->args->exec_name) < 0)
		return;
	/* The root belongs to uid:gid, and petrel runs by now: a name there may be its link to a
	 * host file. A new file only, the link never followed. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	int n = snprintf(text, sizeof(text), "%d\n", (int)pid);
	if (fd < 0 || write(fd, text, (size_t)n) != n)
		jail_err(errno, "write %s", path);   /* not fatal: petrel is running */
	if (fd >= 0)
		close(fd);
}

static int wait_child(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			jail_err(errno, "waitpid %d", (int)pid);
			return 1;
		}
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

int jail_parent_watch(const struct jail *j, bool die_with_it)
{
	struct pollfd p = { .fd = j->parent_pidfd, .events = POLLIN };
	if (prctl(PR_SET_PDEATHSIG, die_with_it ? SIGKILL : 0, 0, 0, 0) < 0)
		return jail_err(errno, "prctl(PR_SET_PDEATHSIG)");
	/* A pidfd is readable once its process has ended (-1 without pidfd_open: not checked) */
	if (j->parent_pidfd >= 0 && poll(&p, 1, 0) > 0)
		return jail_err(ESRCH, "the jailer (this process's parent) was killed before petrel's "
				"start: its caller gave up on it and may be removing the jail; petrel "
				"is not started");
	return 0;
}

struct child_ctx {
	struct jail *j;
	int (*fn)(struct jail *j);
	sigset_t mask;
};

static int child(void *arg)
{
	struct child_ctx *c = arg;
	sigprocmask(SIG_SETMASK, &c->mask, NULL);
	if (jail_parent_watch(c->j, true) == 0)
		c->fn(c->j);       /* returns only on failure */
	c->j->child_failed = true;
	_exit(1);
}

int jail_spawn(struct jail *j, int (*fn)(struct jail *j))
{
	struct child_ctx c = { .j = j, .fn = fn };
	sigset_t block;
	char *stack = malloc(CHILD_STACK);
	if (!stack)
		return jail_err(ENOMEM, "allocate the child's stack");
	/* Until the parent's handlers are in place, a signal must not kill it and orphan the
	 * child; the child gets the caller's mask back first thing. */
	sigemptyset(&block);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&block, forwarded[i]);
	sigprocmask(SIG_BLOCK, &block, &c.mask);
	j->child_failed = false;
	/* for the child to tell whether the jailer is still there (pid numbers cannot: from
	 * its pid namespace the parent has none) */
	j->parent_pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	/* --rootless: the pid namespace must belong to a user namespace the child holds
	 * CAP_SYS_ADMIN in, so both are made together; the child writes its id maps first. */
	int userns = j->args->rootless ? CLONE_NEWUSER : 0;
	pid_t pid = clone(child, stack + CHILD_STACK,
			  CLONE_NEWPID | userns | CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
	int err = errno;
	free(stack);
	if (j->parent_pidfd >= 0)
		close(j->parent_pidfd);   /* the child has its own copy (closed at its exec) */
	j->parent_pidfd = -1;
	if (pid < 0) {
		sigprocmask(SIG_SETMASK, &c.mask, NULL);
		if (userns)
			return jail_userns_refused(err, "clone into new user and pid namespaces");
		return jail_err(err, "clone into a new pid namespace");
	}
	/* Here the child has exec'd petrel, or failed and exited. */
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	child_pid = pid;
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaction(forwarded[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &c.mask, NULL);
	if (j->child_failed) {
		wait_child(pid);
		jail_cleanup(j);
		exit(1);
	}
	write_pid_file(j, pid);
	if (j->args->daemonize)
		exit(0);
	exit(wait_child(pid));
}
