/* The jailed process's last steps: resource limits, --daemonize's stdio, giving up root,
 * and the execve of the exec file's copy as "/<exec name> --id ID [petrel args...]", with
 * an empty environment (as Firecracker's jailer: nothing of the caller's leaks in). */
#include "jail/jail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* setrlimit for each --resource-limit (soft = hard); no-file is 2048 unless given. */
int jail_set_rlimits(const struct jail_args *a)
{
	bool nofile = false;
	for (size_t i = 0; i < a->n_rlimits; i++) {
		const struct jail_rlimit_arg *r = &a->rlimits[i];
		struct rlimit rl = { r->value, r->value };
		nofile |= r->resource == RLIMIT_NOFILE;
		if (setrlimit(r->resource, &rl) < 0)
			return jail_err(errno, "setrlimit %s=%llu",
					r->resource == RLIMIT_NOFILE ? "no-file" : "fsize",
					(unsigned long long)r->value);
	}
	struct rlimit rl = { JAIL_DEFAULT_NOFILE, JAIL_DEFAULT_NOFILE };
	if (!nofile && setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return jail_err(errno, "setrlimit no-file=%d (the default)", JAIL_DEFAULT_NOFILE);
	return 0;
}

/* Raw system calls, not glibc's wrappers: those may try to change the ids of every thread of
 * the process, and a --new-pid-ns child shares the jailer's memory (spawn.c). Group ids
 * first: without CAP_SETGID after setuid they could not change any more. */
static int drop_privileges(const struct jail_args *a)
{
	/* First, while CAP_SETPCAP is still held: no exec gives capabilities back, also not to
	 * --uid 0 (SECBIT_NOROOT, locked), and the kernel's drop at setuid is not skipped (this
	 * clears a caller's SECBIT_NO_SETUID_FIXUP; a locked one makes this fail). */
	if (prctl(PR_SET_SECUREBITS, SECBIT_NOROOT | SECBIT_NOROOT_LOCKED, 0, 0, 0) < 0)
		return jail_err(errno, "prctl(PR_SET_SECUREBITS, NOROOT)");
	/* --rootless: setgroups is denied in the user namespace (userns.c); the caller's
	 * supplementary groups stay, shown as the overflow gid (docs/security.md). */
	if (!a->rootless && syscall(SYS_setgroups, 0, NULL) < 0)
		return jail_err(errno, "setgroups(0)");
	if (syscall(SYS_setresgid, a->gid, a->gid, a->gid) < 0)
		return jail_err(errno, "setgid %u", a->gid);
	if (syscall(SYS_setresuid, a->uid, a->uid, a->uid) < 0)
		return jail_err(errno, "setuid %u", a->uid);
	/* Every capability goes: --rootless kept those of the user namespace (the id map made
	 * the ids uid:gid from the start, so no change away from 0 dropped them), and in the
	 * root mode ambient capabilities a caller set, or --uid 0, would keep some. */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2] = { { 0 } };
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return jail_err(errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
	if (syscall(SYS_capset, &hdr, none) < 0)
		return jail_err(errno, "capset: drop every capability");
	/* petrel never needs to gain privileges through an exec (setuid files, capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return jail_err(errno, "prctl(PR_SET_NO_NEW_PRIVS)");
	return 0;
}

int jail_exec(struct jail *j)
{
	const struct jail_args *a = j->args;
	char path[4096];
	int saved_stderr = -1;
	int ret = jail_path(path, sizeof(path), "/%s", a->exec_name);
	if (ret < 0)
		return ret;
	char **argv = calloc((size_t)a->petrel_argc + 7, sizeof(*argv));
	if (!argv)
		return jail_err(ENOMEM, "exec arguments");
	int n = 0;
	argv[n++] = (char *)a->exec_name;
	argv[n++] = "--id";
	argv[n++] = (char *)a->id;
	/* Firecracker's jailer passes its start and CPU time for the api_server metrics. Only
	 * to petrel's Firecracker-style command line (arguments that are options): a petrel
	 * subcommand (`run`, ...) takes none of them. The CPU start is 0, so the metric counts
	 * this process's jailer work before the exec as well; with --new-pid-ns the parent's
	 * comes as --parent-cpu-time-us. Options after "--" come later and win. */
	char t_start[48], t_cpu[48], t_parent[48];
	if (!a->petrel_argc || a->petrel_argv[0][0] == '-') {
		snprintf(t_start, sizeof(t_start), "--start-time-us=%llu", (unsigned long long)j->start_us);
		snprintf(t_cpu, sizeof(t_cpu), "--start-time-cpu-us=0");
		snprintf(t_parent, sizeof(t_parent), "--parent-cpu-time-us=%llu",
			 (unsigned long long)j->parent_cpu_us);
		argv[n++] = t_start;
		argv[n++] = t_cpu;
		argv[n++] = t_parent;
	}
	memcpy(argv + n, a->petrel_argv, (size_t)a->petrel_argc * sizeof(*argv));
	char *envp[] = { NULL };
	/* With --new-pid-ns this is a fresh child; otherwise main.c called setsid() early. */
	if (a->daemonize && a->new_pid_ns && setsid() < 0)
		ret = jail_err(errno, "setsid");
	if (!ret)
		ret = drop_privileges(a);
	/* --new-pid-ns: the new ids cleared the death signal (spawn.c): again, or none with
	 * --daemonize, whose jailer exits once petrel runs */
	if (!ret && a->new_pid_ns)
		ret = jail_parent_watch(j, !a->daemonize);
	if (ret < 0) {
		free(argv);
		return ret;
	}
	if (a->daemonize) {
		saved_stderr = fcntl(2, F_DUPFD_CLOEXEC, 3);  /* to report a failed exec */
		for (int fd = 0; fd < 3; fd++)
			dup2(j->devnull_fd, fd);
	}
	umask(j->umask);
	execve(path, argv, envp);
	int err = errno;
	if (saved_stderr >= 0)
		dup2(saved_stderr, 2);
	free(argv);
	return jail_err(err, "execve %s in the jail %s as %u:%u", path, j->root, a->uid, a->gid);
}
