/* petrel-jailer: build a jail, then become (or fork) petrel inside it. The steps, in order:
 *
 *   as root, on the host:   parse and check the arguments; find the exec file's shared
 *                           libraries; open --netns and /dev/null; build the jail tree
 *                           (root.c); set resource limits; create and fill the cgroups
 *   --new-pid-ns:           clone into a new pid namespace (spawn.c); the rest is the child
 *   the jailed process:     move into the cgroups; join --netns; new mount namespace and
 *                           pivot_root into the jail (mounts.c); --daemonize's stdio; drop
 *                           to uid:gid; execve /<exec name> --id ID [petrel args] (exec.c)
 *
 * --rootless (userns.c): the caller instead of root on the host. A new user namespace comes
 * first: without --new-pid-ns the jailer unshares it before building anything; with it the
 * clone makes it together with the pid namespace and the child writes its id maps before
 * the cgroups and --netns.
 *
 * A failure prints one line (step and errno) and exits 1; bad arguments exit 2 with the
 * usage. Before the jailed process has joined its cgroups, a failure removes what this run
 * built, so the id can be used again; after success nothing is cleaned up (as Firecracker:
 * the jail directory and cgroups are the caller's to remove once petrel has exited). */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Remove the jail tree and the cgroup directories a failed run created. */
void jail_cleanup(struct jail *j)
{
	if (j->id_dir_created)
		jail_remove_tree(j->id_dir);
	jail_cgroups_remove(j->cgroups);
	j->id_dir_created = false;
}

/* Free what the jailer holds (on the way out after a failure). */
static void release(struct jail *j)
{
	jail_libs_free(&j->libs);
	jail_cgroups_free(j->cgroups);
	j->cgroups = NULL;
	if (j->netns_fd >= 0)
		close(j->netns_fd);
	if (j->devnull_fd >= 0)
		close(j->devnull_fd);
	if (j->root_fd >= 0)
		close(j->root_fd);
	if (j->run_fd >= 0)
		close(j->run_fd);
	j->netns_fd = j->devnull_fd = j->root_fd = j->run_fd = -1;
}

/* On the host, still the jailer process itself: everything that can be undone. */
static int prepare(struct jail *j)
{
	const struct jail_args *a = j->args;
	/* --rootless without --new-pid-ns: this process becomes petrel and makes the user
	 * namespace first thing, so that a host refusing it is told before anything is built
	 * (with --new-pid-ns, the clone makes it and a refusal is cleaned up after). The rest
	 * is done as the caller still: the caller's ids are mapped, nothing else is. */
	int ret = a->rootless && !a->new_pid_ns ? jail_userns_enter(j) : 0;
	if (!ret)
		ret = jail_libs_resolve(a->exec_file, &j->libs);
	if (ret < 0)
		return ret;
	jail_progress(j, "the exec file's shared libraries found");
	if (a->netns && (j->netns_fd = open(a->netns, O_RDONLY | O_CLOEXEC)) < 0)
		return jail_err(errno, "open --netns %s", a->netns);
	if (a->daemonize && (j->devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return jail_err(errno, "open /dev/null");
	/* Without a fork, setsid() must work for this very process: find out before building
	 * anything (it fails in a process group leader, e.g. a shell's job). */
	if (a->daemonize && !a->new_pid_ns && setsid() < 0)
		return jail_err(errno, "--daemonize: setsid (the jailer must not be a process "
				"group leader; start it from a child process or add --new-pid-ns)");
	if ((ret = jail_root_build(j)) < 0)
		return ret;
	jail_progress(j, "the jail's tree built");
	if ((ret = jail_set_rlimits(a)) < 0)
		return ret;
	if ((ret = jail_cgroups_setup(a, &j->cgroups)) < 0)
		return ret;
	jail_progress(j, "the cgroups made");
	return 0;
}

/* In the process that becomes petrel. */
static int enter(struct jail *j)
{
	const struct jail_args *a = j->args;
	int ret = jail_cgroups_join(j->cgroups);
	if (ret < 0)
		return ret;
	jail_progress(j, "the cgroups joined");
	/* --rootless --new-pid-ns: the clone made the user namespace; its id maps. */
	if (a->rootless && a->new_pid_ns && (ret = jail_userns_map(j)) < 0)
		return ret;
	if (j->netns_fd >= 0 && setns(j->netns_fd, CLONE_NEWNET) < 0) {
		if (a->rootless && errno == EPERM)
			return jail_err(errno, "--rootless: setns into the network namespace %s: "
					"joining needs CAP_SYS_ADMIN over the user namespace that owns "
					"it, and the jail's new user namespace is not that one",
					a->netns);
		return jail_err(errno, "setns into the network namespace %s", a->netns);
	}
	if ((ret = jail_enter_root(j)) < 0)
		return ret;
	jail_progress(j, "in the jail (mount namespace, libraries, pivot_root)");
	return jail_exec(j);   /* returns only on failure */
}

int main(int argc, char **argv)
{
	struct jail_args a;
	struct jail j = { .args = &a, .netns_fd = -1, .devnull_fd = -1, .root_fd = -1, .run_fd = -1,
			  .parent_pidfd = -1, .start_us = jail_clock_us(CLOCK_MONOTONIC) };
	/* As Firecracker's jailer: no file descriptor of the caller's reaches petrel (one by one
	 * where close_range is missing or filtered). */
	if (close_range(3, ~0U, 0) < 0) {
		long max = sysconf(_SC_OPEN_MAX);
		for (long fd = 3; fd < (max > 0 && max < (1l << 20) ? max : 1l << 20); fd++)
			close((int)fd);
	}
	int ret = jail_parse_args(argc, argv, &a);
	if (ret)
		return ret > 0 ? 0 : 2;
	if (geteuid() != 0 && !a.rootless) {
		jail_err(EPERM, "the jailer must run as root (it mounts, mknods and changes ids); "
			 "without root, use --rootless");
		return 1;
	}
	if (a.rootless && jail_userns_is_host_root()) {
		/* Mapped into the jail, host root would own petrel's files and reach every file
		 * root owns through the owner bits, capabilities or not. */
		jail_err(EPERM, "--rootless maps the caller's uid into the jail, and the caller is "
			 "root: run it as an unprivileged user, or use the root mode (no --rootless)");
		return 1;
	}
	const char *slow = getenv("PETREL_JAILER_SLOW_MS");
	j.slow_ms = slow && *slow ? strtoull(slow, NULL, 10) : JAIL_SLOW_MS;
	j.host_uid = geteuid();
	j.host_gid = getegid();
	j.umask = umask(0);
	/* the child of --new-pid-ns is a new process: what this one spent is the parent's */
	j.parent_cpu_us = a.new_pid_ns ? jail_clock_us(CLOCK_PROCESS_CPUTIME_ID) : 0;
	if (prepare(&j) < 0 || (a.new_pid_ns && jail_spawn(&j, enter) < 0)) {
		/* jail_spawn returns only if the child could not be made. */
		jail_cleanup(&j);
	} else if (!a.new_pid_ns) {
		/* This process becomes petrel: enter() returns only on failure, and by then it
		 * may have joined the cgroups and left the host's mount namespace, so what it
		 * built stays in place (the message names the step). */
		enter(&j);
	}
	release(&j);
	return 1;
}
