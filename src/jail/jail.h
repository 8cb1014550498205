/* petrel-jailer: starts petrel inside a chroot jail (pivot_root), its own mount namespace,
 * optionally a new pid namespace and a network namespace, cgroups and resource limits, as
 * an unprivileged uid/gid. The command line is Firecracker's jailer's (docs/security.md).
 *
 * Conventions: functions return 0 or a negative errno; the function that fails prints the
 * one line that says which step failed and why (jail_err), callers only pass the value up. */
#ifndef PETREL_JAIL_H
#define PETREL_JAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#define JAIL_ID_MAX 64
#define JAIL_MAX_CGROUPS 32
#define JAIL_MAX_RLIMITS 8
#define JAIL_MAX_LIBS 64
#define JAIL_DEFAULT_BASE "/srv/jailer"
#define JAIL_SLOW_MS 5000         /* jail_progress: from here on, a line per step */
#define JAIL_DEFAULT_NOFILE 2048   /* Firecracker's default when no no-file limit is given */

struct jail_cgroup_arg {
	const char *file;         /* e.g. "memory.limit_in_bytes" */
	const char *value;
	char controller[32];      /* the part of file before the first '.' */
};

struct jail_rlimit_arg {
	int resource;             /* RLIMIT_FSIZE or RLIMIT_NOFILE */
	rlim_t value;
};

struct jail_args {
	const char *id;
	const char *exec_file;
	const char *exec_name;    /* basename of exec_file */
	const char *base_dir;
	const char *netns;
	const char *parent_cgroup;
	uid_t uid;
	gid_t gid;
	bool daemonize, new_pid_ns;
	bool rootless;            /* --rootless: user namespace, no root needed (userns.c) */
	int cgroup_version;
	struct jail_cgroup_arg cgroups[JAIL_MAX_CGROUPS];
	size_t n_cgroups;
	struct jail_rlimit_arg rlimits[JAIL_MAX_RLIMITS];
	size_t n_rlimits;
	char **petrel_argv;       /* the arguments after "--" */
	int petrel_argc;
};

/* The shared libraries (and ELF interpreter) a dynamically linked exec file needs, by their
 * host paths; they are bind-mounted read-only at the same paths inside the jail. */
struct jail_libs {
	char *paths[JAIL_MAX_LIBS];
	size_t n;
};

struct jail_cgroups;

/* Everything built on the host for one jail: what a failure before exec removes again. */
struct jail {
	const struct jail_args *args;
	char id_dir[4096];        /* <base>/<exec name>/<id> */
	char root[4096];          /* <id_dir>/root */
	bool id_dir_created;
	struct jail_libs libs;
	struct jail_cgroups *cgroups;
	int netns_fd;             /* -1 without --netns */
	int devnull_fd;           /* -1 without --daemonize */
	int root_fd, run_fd;      /* root/ and root/run, root's until jail_root_hand_over */
	volatile bool child_failed;  /* --new-pid-ns: set by the child before it exits */
	int parent_pidfd;         /* --new-pid-ns, in the child: the jailer's pidfd, or -1 */
	mode_t umask;             /* the caller's, given back to petrel */
	uid_t host_uid;           /* --rootless: the caller's ids, mapped to --uid/--gid */
	gid_t host_gid;
	unsigned devs;            /* bit i: jail_devices[i] goes into the jail (devices.c) */
	unsigned ufd_major, ufd_minor;  /* /dev/userfaultfd's number, when the host has one */
	/* For petrel's api_server metrics, as Firecracker's jailer passes them: the jailer's start
	 * (CLOCK_MONOTONIC, µs) and, with --new-pid-ns, the parent's CPU time at the clone. */
	uint64_t start_us, parent_cpu_us;
	uint64_t slow_ms;         /* jail_progress */
};

static inline uint64_t jail_clock_us(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The device nodes petrel may need in the jail: mknod'ed as root, bind-mounted from the
 * host with --rootless (only those the caller may open). */
struct jail_device {
	const char *path;         /* in the jail and on the host */
	unsigned major, minor;    /* minor ~0u: read from /sys/class/misc/userfaultfd/dev */
};
extern const struct jail_device jail_devices[];
extern const size_t jail_n_devices;

/* report.c */
int jail_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void jail_progress(const struct jail *j, const char *step);

/* args.c: 0 ok, 1 help/version printed (exit 0), -1 bad usage (message printed, exit 2). */
int jail_parse_args(int argc, char **argv, struct jail_args *a);
void jail_usage(FILE *f);

/* files.c */
int jail_mkdir_p(const char *path, mode_t mode);
int jail_copy_file(const char *src, const char *dst, mode_t mode);
int jail_remove_tree(const char *path);
int jail_make_empty_file(const char *root, const char *host_path);
int jail_path(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* libs.c */
int jail_libs_resolve(const char *exec_file, struct jail_libs *libs);
void jail_libs_free(struct jail_libs *libs);
/* The length of a library path's top directory ("/lib" of /lib/x86_64-linux-gnu/libc.so.6),
 * 0 for a file in "/"; whether a library before paths[i] has the same top directory. */
size_t jail_lib_top_len(const char *host_path);
bool jail_lib_top_seen(const struct jail_libs *libs, size_t i);

/* root.c, devices.c: the jail's directory tree, the exec file copy, its device nodes: which
 * ones (on the host, before building), then made on the jail's /dev tmpfs (in the new
 * mount namespace, before the pivot). */
int jail_root_build(struct jail *j);
int jail_root_hand_over(const struct jail *j);   /* root/ and /run to uid:gid, by descriptor */
int jail_devices_plan(struct jail *j);
int jail_devices_make(const struct jail *j);

/* userns.c: --rootless. enter = unshare(CLONE_NEWUSER) then map; map alone after a clone
 * with CLONE_NEWUSER. refused prints the step and why the host may refuse it. hint is the
 * explanation alone, from the sysctls' values (-1: absent), for the unit tests. */
int jail_userns_enter(const struct jail *j);
int jail_userns_map(const struct jail *j);
int jail_userns_refused(int err, const char *step);
bool jail_userns_is_host_root(void);   /* euid 0, mapped to 0 outside (not `unshare -r`) */
const char *jail_userns_hint(int err, long max_userns, long unpriv_clone, long apparmor,
			     char *buf, size_t size);

/* cgroup.c */
int jail_cgroups_setup(const struct jail_args *a, struct jail_cgroups **out);
int jail_cgroups_join(struct jail_cgroups *cg);
void jail_cgroups_remove(struct jail_cgroups *cg);
void jail_cgroups_free(struct jail_cgroups *cg);

/* mounts.c: new mount namespace whose root is the jail. */
int jail_enter_root(struct jail *j);
/* A tmpfs mounted on dir (flags 0) or remounted (MS_REMOUNT | ...), always nosuid,noexec. */
int jail_tmpfs(const char *dir, unsigned long flags, const char *opts);

/* spawn.c: --new-pid-ns: run fn, the jailed process's steps (they end in petrel's exec), in
 * a child in a new pid namespace. The parent does not return but exits: with the child's
 * status, or at once with --daemonize, or 1 after cleaning up when the child failed before
 * its exec. Returns (negative errno) only when the child could not be made. */
int jail_spawn(struct jail *j, int (*fn)(struct jail *j));
void jail_cleanup(struct jail *j);   /* main.c: remove what a failed run built */
/* In the --new-pid-ns child: SIGKILL when the jailer dies (die_with_it) or no death signal;
 * fails if the jailer has already gone. */
int jail_parent_watch(const struct jail *j, bool die_with_it);

/* exec.c: resource limits, then the last steps in the jailed process (stdio, ids, execve). */
int jail_set_rlimits(const struct jail_args *a);
int jail_exec(struct jail *j);

#endif
