/* petrel's built-in allow-lists, one per thread kind, made of groups. docs/security.md says
 * what each group is for and which code needs it; keep the two in step. */
#include "seccomp/seccomp_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

/* The name in the entry, not a pointer to it: a table of pointers is relocated by the loader at
 * every start in a position-independent program, which writes (makes private) each of its pages,
 * though petrel reads these tables only for --seccomp-filter and its tests (the built-in filters
 * are compiled at build time). 32: longer than any Linux system call's name. */
struct entry {
	char name[32];
	uint8_t nargs;
	struct sc_arg args[2];
};

#define ANY(n) { n, 0, { { 0 } } }
/* one argument, exact (low 32 bits) */
#define EQ32(n, i, v) { n, 1, { { i, true, SC_OP_EQ, (uint32_t)(v), 0 } } }
/* one argument, exact (all 64 bits: pointers) */
#define EQ64(n, i, v) { n, 1, { { i, false, SC_OP_EQ, (uint64_t)(v), 0 } } }
/* one argument, (arg & m) == v */
#define MASK(n, i, m, v) { n, 1, { { i, false, SC_OP_MASKED_EQ, v, m } } }
#define END { "", 0, { { 0 } } }

/* Every thread: memory, locks, time, signals, names, and I/O on descriptors it holds. */
static const struct entry base[] = {
	ANY("read"), ANY("write"), ANY("readv"), ANY("writev"), ANY("pread64"), ANY("pwrite64"),
	ANY("preadv"), ANY("pwritev"), ANY("preadv2"), ANY("pwritev2"), ANY("close"), ANY("lseek"),
	ANY("fstat"), ANY("newfstatat"), ANY("statx"), ANY("fcntl"),
	ANY("munmap"), ANY("madvise"), ANY("brk"), ANY("mremap"),
	ANY("futex"), ANY("set_robust_list"), ANY("rseq"), ANY("sched_yield"),
	ANY("clock_gettime"), ANY("clock_getres"), ANY("gettimeofday"), ANY("time"),
	ANY("clock_nanosleep"), ANY("nanosleep"), ANY("getpid"), ANY("gettid"), ANY("getrandom"),
	ANY("sysinfo"), ANY("getcpu"),
	ANY("rt_sigprocmask"), ANY("rt_sigreturn"), ANY("rt_sigaction"), ANY("sigaltstack"),
	ANY("restart_syscall"), ANY("exit"), ANY("exit_group"),
	ANY("poll"), ANY("ppoll"), ANY("epoll_wait"), ANY("epoll_pwait"), ANY("epoll_pwait2"),
	EQ32("prctl", 0, PR_GET_NAME), EQ32("prctl", 0, PR_SET_NAME),
	/* tgkill(pid, ...): filled in with our own pid (kicks, pthread_kill) */
	EQ32("tgkill", 0, 0),
	/* a thread pinning itself (pid 0) to its host CPUs (util/affinity.c, --cpu-affinity) */
	EQ32("sched_setaffinity", 0, 0),
	END,
};

/* Threads that run guest-driven code map nothing executable. */
static const struct entry mem_noexec[] = {
	MASK("mmap", 2, PROT_EXEC, 0), MASK("mprotect", 2, PROT_EXEC, 0),
	END,
};

static const struct entry mem_any[] = {
	ANY("mmap"), ANY("mprotect"),
	END,
};

/* Devices and their backends, on descriptors made when the VM was built: eventfds, timers,
 * epoll sets, io_uring, image files, tap, vsock's Unix sockets. */
static const struct entry data[] = {
	ANY("eventfd2"), ANY("epoll_create1"), ANY("epoll_ctl"), ANY("timerfd_create"),
	ANY("timerfd_settime"), ANY("timerfd_gettime"), ANY("io_uring_enter"), ANY("io_uring_register"),
	ANY("fdatasync"), ANY("fsync"), ANY("fallocate"), ANY("ftruncate"), ANY("fadvise64"),
	ANY("mincore"),
	/* qcow2 copy-on-write from a raw backing file (block/qcow2_write.c), on the I/O thread */
	ANY("copy_file_range"),
	EQ32("socket", 0, AF_UNIX), ANY("connect"), ANY("accept4"), ANY("recvfrom"), ANY("recvmsg"),
	ANY("sendto"), ANY("sendmsg"), ANY("sendmmsg"), ANY("recvmmsg"), ANY("shutdown"),
	ANY("getsockopt"), ANY("setsockopt"),
	ANY("getsockname"), ANY("getpeername"),
	/* tap offloads follow the guest's features (set when the driver activates) */
	EQ32("ioctl", 1, TUNSETOFFLOAD), EQ32("ioctl", 1, TUNSETVNETHDRSZ),
	EQ32("ioctl", 1, TUNGETVNETHDRSZ), EQ32("ioctl", 1, TUNGETFEATURES), EQ32("ioctl", 1, FIONREAD),
	/* stdio's first output to a stream asks whether it is a terminal */
	EQ32("ioctl", 1, TCGETS),
	END,
};

/* Every KVM ioctl (type 0xAE): vCPU, VM and system fds. */
static const struct entry kvm[] = {
	MASK("ioctl", 1, 0xff00, 0xae00),
	END,
};

/* userfaultfd ioctls (type 0xAA): UFFDIO_*, USERFAULTFD_IOC_NEW. */
static const struct entry uffd[] = {
	MASK("ioctl", 1, 0xff00, 0xaa00),
	END,
};

/* Building a VM, loading and saving snapshots, opening images and sockets by path. */
static const struct entry build[] = {
	ANY("openat"), ANY("open"), ANY("access"), ANY("faccessat"), ANY("faccessat2"),
	ANY("readlink"), ANY("readlinkat"), ANY("getcwd"), ANY("unlink"), ANY("unlinkat"),
	ANY("rename"), ANY("renameat"), ANY("renameat2"), ANY("mkdir"), ANY("mkdirat"),
	ANY("io_uring_setup"), ANY("userfaultfd"), ANY("copy_file_range"), ANY("fgetxattr"),
	ANY("fsetxattr"), ANY("pipe2"), ANY("bind"), ANY("listen"), ANY("sched_getaffinity"),
	ANY("fchmod"), /* a virtio-console port's socket made 0600 before its bind (util/unix_socket.c) */
	ANY("uname"), ANY("getuid"), ANY("geteuid"), ANY("getgid"), ANY("getegid"),
	ANY("memfd_create"), /* guest RAM a virtio-fs back end maps (memory/backing.c) */
	EQ64("prlimit64", 2, 0), /* reading limits only: new_limit is a NULL pointer */
	/* migration and replication peers (getaddrinfo also asks netlink, and glibc's resolver
	 * sends its A and AAAA queries with one sendmmsg when the peer is a host name) */
	EQ32("socket", 0, AF_INET), EQ32("socket", 0, AF_INET6), EQ32("socket", 0, AF_NETLINK),
	ANY("sendmmsg"),
	/* a tls: stream's plaintext end and its pump's (util/tls_pump.c) */
	EQ32("socketpair", 0, AF_UNIX),
	EQ32("ioctl", 1, TUNSETIFF), EQ32("ioctl", 1, SIOCGIFMTU), EQ32("ioctl", 1, BLKGETSIZE64),
	EQ32("ioctl", 1, BLKSSZGET), EQ32("ioctl", 1, FICLONE), EQ32("ioctl", 1, TCGETS),
	END,
};

/* The terminal and the control signals (main only). */
static const struct entry console[] = {
	EQ32("ioctl", 1, TCGETS), EQ32("ioctl", 1, TCSETS), EQ32("ioctl", 1, TCSETSW),
	EQ32("ioctl", 1, TCSETSF), EQ32("ioctl", 1, TIOCGWINSZ), ANY("signalfd4"),
	END,
};

/* Creating threads (never processes): the spawner only. clone3 is answered ENOSYS by every
 * filter, so glibc uses clone. */
static const struct entry threads[] = {
	MASK("clone", 0, CLONE_THREAD, CLONE_THREAD),
	END,
};

/* The spawner's children install their own filter while under the spawner's. */
static const struct entry spawner_own[] = {
	EQ32("seccomp", 0, SECCOMP_SET_MODE_FILTER),
	END,
};

/* The PVM idle kicker reads /proc/self/task/TID/stat: read-only, and nothing that creates,
 * truncates or appends to a file. */
static const struct entry read_only_open[] = {
	MASK("openat", 2, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND | O_TMPFILE, O_RDONLY),
	END,
};

/* ASan/UBSan builds: the runtime's reports, symbolizer and leak checker (a ptrace'ing
 * helper at exit). Never in a normal build. */
static const struct entry sanitizer_group[] = {
	ANY("openat"), ANY("readlink"), ANY("prctl"), ANY("clone"), ANY("ptrace"), ANY("wait4"),
	ANY("waitid"), ANY("getdents64"), ANY("sched_getaffinity"), ANY("getppid"), ANY("pipe2"),
	ANY("execve"), ANY("dup2"), ANY("dup3"), ANY("mmap"), ANY("mprotect"), ANY("kill"),
	ANY("tgkill"), ANY("getrlimit"), ANY("prlimit64"), ANY("setrlimit"), ANY("uname"),
	ANY("arch_prctl"), ANY("process_vm_readv"), ANY("munmap"), ANY("write"), ANY("exit"),
	ANY("exit_group"), ANY("rt_sigaction"), ANY("rt_sigprocmask"), ANY("sched_yield"),
	ANY("nanosleep"), ANY("clock_nanosleep"), ANY("futex"), ANY("close"), ANY("read"),
	END,
};

/* The VNC server (src/ui/vnc.c, libvncserver's loop run by hand): its clients' sockets, the
 * connections it accepts on its listening socket, and the library's select(). No socket of
 * its own making, no file opened: the library was loaded before, on the VMM's thread. */
static const struct entry vnc[] = {
	ANY("accept4"), ANY("recvfrom"), ANY("sendto"), ANY("shutdown"), ANY("getpeername"),
	ANY("getsockopt"), ANY("setsockopt"), ANY("select"), ANY("pselect6"),
	END,
};

#define G(...) { __VA_ARGS__, NULL }

/* The groups of each kind. A kind that builds a VM (main, vmm, migration, replication) gets
 * everything a VM needs; the data plane gets only what runs on descriptors it is handed. */
static const struct entry *const *const kind_groups[SC_KIND_MAX] = {
	[SC_MAIN] = (const struct entry *const[])G(base, mem_any, data, kvm, uffd, build, console),
	[SC_API] = (const struct entry *const[])G(base, mem_any, data, kvm, build),
	[SC_VMM] = (const struct entry *const[])G(base, mem_any, data, kvm, uffd, build),
	[SC_VCPU] = (const struct entry *const[])G(base, mem_noexec, data, kvm),
	[SC_IO] = (const struct entry *const[])G(base, mem_noexec, data, kvm),
	[SC_PVM_IDLE] = (const struct entry *const[])G(base, mem_noexec, kvm, read_only_open),
	[SC_PAGER] = (const struct entry *const[])G(base, mem_noexec, data, uffd),
	[SC_MIGRATION] = (const struct entry *const[])G(base, mem_any, data, kvm, uffd, build),
	[SC_THROTTLE] = (const struct entry *const[])G(base, mem_noexec),
	[SC_POSTCOPY] = (const struct entry *const[])G(base, mem_noexec, data, uffd),
	[SC_REPLICATION] = (const struct entry *const[])G(base, mem_any, data, kvm, uffd, build),
	[SC_VNC] = (const struct entry *const[])G(base, mem_noexec, kvm, vnc),
};

static int add_group(struct sc_list *l, const struct entry *e, uint32_t pid)
{
	for (; e->name[0]; e++) {
		struct sc_rule r = { .nr = sc_syscall_nr(e->name), .nargs = e->nargs };
		if (r.nr < 0)
			continue;   /* not a system call on this libseccomp: nothing to allow */
		memcpy(r.args, e->args, sizeof(e->args));
		if (!strcmp(e->name, "tgkill"))
			r.args[0].val = pid;
		int err = sc_list_add(l, &r);
		if (err < 0)
			return err;
	}
	return 0;
}

int sc_policy_builtin_as(struct sc_policy *p, bool sanitizer, uint32_t pid)
{
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	/* names are resolved by libseccomp: without it every list would be empty */
	if (sc_lib_load(NULL, 0) < 0)
		return -ENOTSUP;
	for (int k = 0; k < SC_KIND_MAX; k++) {
		struct sc_list *l = &p->kinds[k];
		l->default_action = SCMP_ACT_TRAP;
		l->rule_action = SCMP_ACT_ALLOW;
		for (const struct entry *const *g = kind_groups[k]; *g; g++) {
			int err = add_group(l, *g, pid);
			if (err < 0) {
				sc_policy_free(p);
				return err;
			}
		}
		if (sanitizer && add_group(l, sanitizer_group, pid) < 0) {
			sc_policy_free(p);
			return -ENOMEM;
		}
	}
	return 0;
}

int sc_policy_builtin(struct sc_policy *p)
{
	return sc_policy_builtin_as(p, SC_SANITIZER, (uint32_t)getpid());
}

/* What the spawner itself needs on top of the union of every kind (pthread_create). */
int sc_spawner_own(struct sc_list *l, uint32_t pid)
{
	int err = add_group(l, base, pid);
	if (!err)
		err = add_group(l, mem_any, pid);
	if (!err)
		err = add_group(l, threads, pid);
	if (!err)
		err = add_group(l, spawner_own, pid);
	return err;
}
