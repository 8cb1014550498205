/* Seccomp: the --seccomp-filter parser, the built-in lists, the filters compiled at build
 * time (equal to what libseccomp makes of lists.c now; their behaviour in forked children),
 * the spawner and the SIGSYS report. */
#include "seccomp/seccomp_int.h"
#include "util/thread.h"
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/times.h>
#include <sys/wait.h>
#include <unistd.h>

static int parse(struct sc_policy *p, const char *doc, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	return sc_policy_parse_json(p, doc, strlen(doc), err, errlen);
}

TEST(parses_a_document)
{
	struct sc_policy p;
	char err[512] = "";
	const char *doc = "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": ["
			  "{\"syscall\": \"read\", \"comment\": \"x\"},"
			  "{\"syscall\": \"ioctl\", \"args\": [{\"index\": 1, \"type\": \"dword\", \"op\": {\"masked_eq\": 65280}, \"val\": 44544}]},"
			  "{\"syscall\": \"tgkill\", \"args\": [{\"index\": 0, \"type\": \"qword\", \"op\": \"le\", \"val\": 5}]},"
			  "{\"syscall\": \"timerfd_settime\"}]},"
			  "\"io\": {\"default_action\": {\"errno\": 1}, \"filter_action\": \"log\", \"filter\": []}}";
	REQUIRE_EQ(parse(&p, doc, err, sizeof(err)), 0);
	CHECK(p.from_file[SC_VCPU] && p.from_file[SC_IO] && !p.from_file[SC_API]);
	CHECK_EQ(p.kinds[SC_VCPU].n, 4);
	CHECK_EQ(p.kinds[SC_VCPU].rules[0].nr, SCMP_SYS(read));
	CHECK_EQ(p.kinds[SC_VCPU].rules[1].args[0].op, SC_OP_MASKED_EQ);
	CHECK_EQ_HEX(p.kinds[SC_VCPU].rules[1].args[0].mask, 0xff00);
	CHECK(p.kinds[SC_VCPU].rules[1].args[0].dword);
	CHECK_EQ(p.kinds[SC_VCPU].rules[2].args[0].op, SC_OP_LE);
	CHECK_EQ_HEX(p.kinds[SC_IO].default_action, SCMP_ACT_ERRNO(1));
	CHECK_EQ_HEX(p.kinds[SC_IO].rule_action, SCMP_ACT_LOG);
	sc_policy_free(&p);
}

/* Every action a document may give compiles, whatever it meets (clone3's own ENOSYS rule). */
TEST(every_default_action_compiles)
{
	static const char *const acts[] = { "\"trap\"", "\"kill_process\"", "\"kill\"", "\"log\"",
					    "\"allow\"", "{\"errno\": 38}", "{\"errno\": 0}" };
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++) {
		for (int rule_log = 0; rule_log < 2; rule_log++) {
			char doc[512], err[512] = "";
			snprintf(doc, sizeof(doc), "{\"vcpu\": {\"default_action\": %s, \"filter_action\": \"%s\", "
				 "\"filter\": [{\"syscall\": \"read\"}, {\"syscall\": \"read\"}, "
				 "{\"syscall\": \"timerfd_settime\"}]}}", acts[i],
				 rule_log ? "log" : "allow");
			struct sc_policy p;
			REQUIRE_EQ(parse(&p, doc, err, sizeof(err)), 0);
			void *bpf = NULL;
			size_t len = 0;
			CHECK_EQ(seccomp_compile(&p.kinds[SC_VCPU], &bpf, &len), 0);
			free(bpf);
			sc_policy_free(&p);
		}
	}
}

/* A vCPU list from before the console's flush timer (no timerfd_settime) would end petrel at
 * the guest's first console output: refused at load, naming the call, when its default ends
 * petrel; let through when the call would only fail (errno) or pass (log, allow). */
TEST(a_vcpu_list_without_what_petrel_needs_is_refused_by_name)
{
	static const struct { const char *act; bool ok; } cases[] = {
		{ "\"trap\"", false }, { "\"kill_process\"", false }, { "\"kill_thread\"", false },
		{ "{\"errno\": 1}", true }, { "\"log\"", true }, { "\"allow\"", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char doc[512], err[512] = "";
		snprintf(doc, sizeof(doc), "{\"vcpu\": {\"default_action\": %s, \"filter_action\": \"allow\", "
			 "\"filter\": [{\"syscall\": \"ioctl\"}, {\"syscall\": \"write\"}]}}", cases[i].act);
		struct sc_policy p;
		sc_policy_builtin(&p);
		size_t n = p.kinds[SC_VCPU].n;
		int r = sc_policy_parse_json(&p, doc, strlen(doc), err, sizeof(err));
		if (cases[i].ok) {
			CHECK_EQ(r, 0);
		} else {
			CHECK_EQ(r, -EINVAL);
			CHECK_CONTAINS(err, "vcpu: the list does not allow timerfd_settime");
			CHECK_CONTAINS(err, "{\"syscall\": \"timerfd_settime\"}");
			CHECK_EQ(p.kinds[SC_VCPU].n, n);   /* nothing applied */
		}
		sc_policy_free(&p);
	}
	/* the same list for a kind that never needed it is fine; a rule with conditions counts */
	const char *io = "{\"io\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": []},"
			 " \"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": ["
			 "{\"syscall\": \"timerfd_settime\", \"args\": [{\"index\": 1, \"type\": \"dword\", \"op\": \"eq\", \"val\": 0}]}]}}";
	struct sc_policy p;
	char err[512] = "";
	CHECK_EQ(parse(&p, io, err, sizeof(err)), 0);
	sc_policy_free(&p);
}

TEST(refuses_bad_documents)
{
	static const struct { const char *doc, *word; } bad[] = {
		{ "", "not valid JSON" },
		{ "[]", "expected an object" },
		{ "{}", "no thread kind" },
		{ "{\"gpu\": {}}", "'gpu' is not a thread kind" },
		{ "{\"spawn\": {}}", "cannot be given" },
		{ "{\"vcpu\": 1}", "expected an object" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\"}}", "'filter' must be" },
		{ "{\"vcpu\": {\"default_action\": \"nope\", \"filter_action\": \"allow\", \"filter\": []}}", "default_action" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"trap\", \"filter\": []}}", "filter_action" },
		{ "{\"vcpu\": {\"default_action\": {\"errno\": 99999}, \"filter_action\": \"allow\", \"filter\": []}}", "default_action" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"frobnicate\"}]}}", "not an x86-64 system call" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"name\": \"read\"}]}}", "unknown key 'name'" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"read\", \"args\": [{\"index\": 6, \"type\": \"qword\", \"op\": \"eq\", \"val\": 0}]}]}}", "index" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"read\", \"args\": [{\"index\": 0, \"type\": \"byte\", \"op\": \"eq\", \"val\": 0}]}]}}", "'type'" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"read\", \"args\": [{\"index\": 0, \"type\": \"qword\", \"op\": \"eq\", \"val\": -1}]}]}}", "'val'" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"read\", \"args\": [{\"index\": 0, \"type\": \"dword\", \"op\": \"eq\", \"val\": 4294967296}]}]}}", "32 bits" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"read\", \"args\": [{\"index\": 0, \"type\": \"dword\", \"op\": \"lt\", \"val\": 4}]}]}}", "eq or masked_eq" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": [{\"syscall\": \"read\", \"args\": [{\"index\": 0, \"type\": \"qword\", \"op\": \"eq\", \"val\": 1}, {\"index\": 0, \"type\": \"qword\", \"op\": \"eq\", \"val\": 2}]}]}}", "two conditions" },
		{ "{\"vcpu\": {\"default_action\": \"trap\", \"filter_action\": \"allow\", \"filter\": []}, \"vcpu\": {}}", "duplicate" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sc_policy p;
		char err[512] = "";
		sc_policy_builtin(&p);
		size_t n = p.kinds[SC_VCPU].n;
		CHECK_EQ(sc_policy_parse_json(&p, bad[i].doc, strlen(bad[i].doc), err, sizeof(err)), -EINVAL);
		CHECK_CONTAINS(err, bad[i].word);
		CHECK_EQ(p.kinds[SC_VCPU].n, n);   /* nothing applied */
		CHECK(!p.from_file[SC_VCPU]);
		sc_policy_free(&p);
	}
}

TEST(builtin_lists_compile)
{
	struct sc_policy p;
	REQUIRE_EQ(sc_policy_builtin(&p), 0);
	for (int k = 0; k < SC_KIND_MAX; k++) {
		void *bpf = NULL;
		size_t len = 0;
		CHECK_EQ(seccomp_compile(&p.kinds[k], &bpf, &len), 0);
		CHECK(len > 0 && len % sizeof(struct sock_filter) == 0);
		CHECK(p.kinds[k].n > 20);
		free(bpf);
	}
	sc_policy_free(&p);
}

/* Sanitizer builds add what their runtime needs (exec, clone, open, mmap) to every list. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SANITIZER 1
#else
#define SANITIZER 0
#endif

static bool same_program(const struct sock_fprog *built, const void *bpf, size_t len)
{
	return built->len * sizeof(struct sock_filter) == len && !memcmp(built->filter, bpf, len);
}

/* The programs compiled at build time are exactly what libseccomp makes of lists.c now, for
 * builds with and without sanitizers, spawner included: the two can never drift apart. */
TEST(builtin_programs_equal_the_lists)
{
	for (int san = 0; san < 2; san++) {
		uint32_t pid = (uint32_t)getpid() + (uint32_t)san;   /* the pid is put in where tgkill compares */
		struct sc_policy p;
		struct sock_fprog built[SC_KIND_ALL];
		REQUIRE_EQ(sc_policy_builtin_as(&p, san, pid), 0);
		sc_builtin_progs(built, san, pid);
		for (int k = 0; k < SC_KIND_ALL; k++) {
			void *bpf = NULL;
			size_t len = 0;
			if (k == SC_SPAWN)
				REQUIRE_EQ(sc_compile_spawner(&p, &bpf, &len), 0);
			else
				REQUIRE_EQ(seccomp_compile(&p.kinds[k], &bpf, &len), 0);
			if (!same_program(&built[k], bpf, len))
				fprintf(stderr, "  %s%s: built-in program differs from lists.c's (rebuild?)\n",
					sc_kind_name(k), san ? " (sanitizer)" : "");
			CHECK(same_program(&built[k], bpf, len));
			free(bpf);
		}
		sc_policy_free(&p);
	}
	/* this build's own variant, with our pid, is what seccomp_start installs */
	struct sock_fprog built[SC_KIND_ALL];
	sc_builtin_progs(built, SANITIZER, (uint32_t)getpid());
	CHECK(built[SC_VCPU].len > 20);
}

/* The SIGSYS report's names (a table made at build time) are libseccomp's. */
TEST(syscall_names_match_libseccomp)
{
	REQUIRE_EQ(sc_lib_load(NULL, 0), 0);
	CHECK_STR_EQ(sc_syscall_name(0), "read");
	CHECK_STR_EQ(sc_syscall_name(100), "times");
	CHECK_STR_EQ(sc_syscall_name(__NR_io_uring_setup), "io_uring_setup");
	CHECK(sc_syscall_name(-1) == NULL && sc_syscall_name(SC_SYSCALL_NAMES) == NULL);
	for (int nr = 0; nr < SC_SYSCALL_NAMES; nr++) {
		char *name = sc_lib.resolve_num_arch(SCMP_ARCH_X86_64, nr);
		const char *ours = sc_syscall_name(nr);
		CHECK((name && *name) == (ours != NULL));
		if (name && ours)
			CHECK_STR_EQ(ours, name);
		free(name);
	}
}

/* Run fn in a child under kind's built-in filter (the one petrel installs: compiled at build
 * time, with the child's pid); returns the wait status. */
static int in_child(int kind, void (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		struct sock_fprog progs[SC_KIND_ALL];
		signal(SIGSYS, SIG_DFL);
		sc_builtin_progs(progs, SANITIZER, (uint32_t)getpid());
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[kind]))
			_exit(101);
		fn();
		_exit(0);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	return st;
}

static void call_times(void) { syscall(SYS_times, NULL); }
static void call_getpid(void) { if (syscall(SYS_getpid) <= 0) _exit(3); }
static void call_kvm_ioctl_sign_extended(void)
{
	/* KVM_GET_REGS passed as a sign-extended int: still a KVM ioctl (EBADF, not SIGSYS) */
	long req = (long)(int)KVM_GET_REGS;
	if (syscall(SYS_ioctl, -1, req, 0) != -1 || errno != EBADF)
		_exit(4);
}
static void call_tiocsti(void) { syscall(SYS_ioctl, 0, 0x5412 /* TIOCSTI */, "x"); }
static void call_execve(void) { syscall(SYS_execve, "/bin/true", NULL, NULL); }
static void call_fork(void) { syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }
static void call_clone3(void)
{
	if (syscall(SYS_clone3, NULL, 0) != -1 || errno != ENOSYS)
		_exit(5);
}
static void call_socket_inet(void) { syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); }
static void call_mmap_exec(void) { syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); }
static void call_open(void) { syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY); }
static void call_open_ok(void)
{
	if (syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC) < 0)
		_exit(7);
}
static void call_open_creat(void) { syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CREAT, 0600); }
static void call_open_trunc(void) { syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_TRUNC); }
/* prlimit64 may read limits only: new_limit NULL, all 64 bits of it (a pointer whose low
 * half is 0 passed the low-32-bit check that was here before) */
static void call_prlimit_read(void)
{
	struct rlimit r;
	if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &r) != 0)
		_exit(8);
}
static void call_prlimit_high_pointer(void) { syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, (void *)0x100000000ull, NULL); }
/* tgkill only on our own pid, put into the built-in programs at start */
static void call_tgkill_self(void)
{
	if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) != 0)
		_exit(6);
}
static void call_tgkill_other(void) { syscall(SYS_tgkill, getpid() + 1, 1, 0); }

static bool killed_by_sigsys(int st)
{
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
}

TEST(filters_allow_and_trap)
{
	for (int k = 0; k < SC_KIND_MAX; k++) {
		int st = in_child(k, call_times);
		CHECK(killed_by_sigsys(st));
		st = in_child(k, call_getpid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		if (!SANITIZER) {
			CHECK(killed_by_sigsys(in_child(k, call_execve)));
			CHECK(killed_by_sigsys(in_child(k, call_fork)));
		}
		CHECK(killed_by_sigsys(in_child(k, call_tiocsti)));
		st = in_child(k, call_clone3);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	int st = in_child(SC_VCPU, call_kvm_ioctl_sign_extended);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	CHECK(killed_by_sigsys(in_child(SC_VCPU, call_socket_inet)));
	if (!SANITIZER) {
		CHECK(killed_by_sigsys(in_child(SC_VCPU, call_mmap_exec)));
		CHECK(killed_by_sigsys(in_child(SC_IO, call_open)));
	}
	st = in_child(SC_VCPU, call_tgkill_self);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (!SANITIZER)
		CHECK(killed_by_sigsys(in_child(SC_VCPU, call_tgkill_other)));
	st = in_child(SC_VMM, call_open);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = in_child(SC_PVM_IDLE, call_open_ok);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	st = in_child(SC_MAIN, call_prlimit_read);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (!SANITIZER) {
		CHECK(killed_by_sigsys(in_child(SC_PVM_IDLE, call_open_creat)));
		CHECK(killed_by_sigsys(in_child(SC_PVM_IDLE, call_open_trunc)));
		for (int k = 0; k < SC_KIND_MAX; k++)
			CHECK(killed_by_sigsys(in_child(k, call_prlimit_high_pointer)));
	}
	st = in_child(SC_MAIN, call_socket_inet);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void *idle_thread(void *arg)
{
	(void)arg;
	return NULL;
}

static void *forbidden_thread(void *arg)
{
	(void)arg;
	syscall(SYS_times, NULL);
	return NULL;
}

/* The whole start-up in a child: every thread filtered, and a forbidden call reported. */
TEST(spawned_threads_are_filtered_and_reported)
{
	int pfd[2];
	REQUIRE_EQ(pipe(pfd), 0);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDERR_FILENO);
		struct sc_options o = { 0 };
		if (seccomp_start(&o) < 0)
			_exit(10);
		pthread_t t;
		if (thread_start(&t, SC_VCPU, "fc_vcpu 7", idle_thread, NULL) < 0)
			_exit(11);
		pthread_join(t, NULL);
		if (thread_start(&t, SC_IO, "fc_io", forbidden_thread, NULL) < 0)
			_exit(12);
		pthread_join(t, NULL);
		_exit(13);
	}
	close(pfd[1]);
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(buf) - 1 && (r = read(pfd[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = 0;
	close(pfd[0]);
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(killed_by_sigsys(st));
	CHECK_CONTAINS(buf, "seccomp: thread fc_io: forbidden system call 100 (times)");
}

TEST(takes_its_arguments_out_of_argv)
{
	char a0[] = "run", a1[] = "--no-seccomp", a2[] = "--kernel", a3[] = "k", a4[] = "--seccomp-filter",
	     a5[] = "f.json", a6[] = "--seccomp-filter=g.json";
	char *argv[] = { a0, a1, a2, a3, a4, a5, a6, NULL };
	int argc = 7;
	struct sc_options o = { 0 };
	REQUIRE_EQ(seccomp_take_args(&argc, argv, &o), 0);
	CHECK_EQ(argc, 3);
	CHECK_STR_EQ(argv[1], "--kernel");
	CHECK_STR_EQ(argv[2], "k");
	CHECK(argv[3] == NULL);
	CHECK(o.disabled);
	CHECK_STR_EQ(o.filter_path, "g.json");
	char *bad[] = { a0, a4, NULL };
	argc = 2;
	CHECK_EQ(seccomp_take_args(&argc, bad, &o), -1);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
