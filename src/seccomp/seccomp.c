/* Seccomp start-up: take the filters (compiled at build time, or from --seccomp-filter FILE
 * now), install them on threads. See seccomp.h and docs/security.md#seccomp. */
#include "seccomp/seccomp_int.h"
#include "util/util.h"
#include "util/log.h"
#include "util/thread.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SC_FILTER_FILE_MAX (1u << 20)

int sc_sigsys_install(void);   /* sigsys.c */

static bool enabled;
static struct sock_fprog progs[SC_KIND_ALL];   /* compiled from --seccomp-filter FILE */
static bool progs_from_file;   /* progs were malloc'ed by compiling (else: the built-in ones) */
/* The built-in programs get the pid when a thread of their kind first installs one: the kinds
 * a VM never starts are never written (their pages stay petrel's file's, not copies). */
static uint32_t builtin_pid;
static int trigger_kind = SC_KIND_NONE;

bool seccomp_enabled(void)
{
	return enabled;
}

int seccomp_take_args(int *argc, char **argv, struct sc_options *o)
{
	int w = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			while (i < *argc)
				argv[w++] = argv[i++];
			break;
		}
		if (!strcmp(a, "--no-seccomp")) {
			o->disabled = true;
		} else if (!strcmp(a, "--seccomp-filter")) {
			if (i + 1 >= *argc) {
				log_error("--seccomp-filter needs a FILE");
				return -1;
			}
			o->filter_path = argv[++i];
		} else if (!strncmp(a, "--seccomp-filter=", 17)) {
			o->filter_path = a + 17;
		} else {
			argv[w++] = argv[i];
		}
	}
	argv[w] = NULL;
	*argc = w;
	return 0;
}

static int load_file(struct sc_policy *p, const char *path)
{
	char *text = NULL, err[512] = "";
	size_t len;
	int e = read_whole_file(path, SC_FILTER_FILE_MAX, &text, &len);
	if (e < 0) {
		log_error("--seccomp-filter: cannot read '%s': %s", path, strerror(-e));
		return e;
	}
	e = sc_policy_parse_json(p, text, len, err, sizeof(err));
	free(text);
	if (e < 0)
		log_error("--seccomp-filter %s: %s", path, err);
	return e;
}

/* The spawner's filter went on the main thread before the spawner started (seccomp_start): the
 * spawner has it already. */
static bool spawn_inherited;

static int install(int kind)
{
	/* SIGSYS unblocked first: a blocked one would reach the kernel's default action and the
	 * handler would never log which call it was. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	if (kind == SC_SPAWN && spawn_inherited)
		return 0;
	struct sock_fprog prog = progs[kind];
	if (!progs_from_file)
		sc_builtin_prog(kind, SC_SANITIZER, builtin_pid, &prog);
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
}

int seccomp_enter(int kind)
{
	if (!enabled || kind < 0 || kind >= SC_KIND_ALL)
		return 0;
	int e = install(kind);
	if (e < 0)
		return e;
	seccomp_test_point(kind);
	return 0;
}

void seccomp_test_point(int kind)
{
	if (!enabled || kind != __atomic_load_n(&trigger_kind, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&trigger_kind, SC_KIND_NONE, __ATOMIC_RELAXED);
	syscall(SYS_times, NULL);   /* on no list: the SIGSYS handler logs it and ends petrel */
}

/* --seccomp-filter FILE: the kinds it names replace the built-in lists, compiled now with
 * libseccomp (the spawner's union too, as it depends on every list). */
static int compile_with_file(const char *path)
{
	struct sc_policy p;
	int e = sc_policy_builtin(&p);
	if (e < 0) {
		char why[256] = "";
		sc_lib_load(why, sizeof(why));
		log_error("seccomp: --seccomp-filter needs libseccomp: %s", why[0] ? why : strerror(-e));
		return e;
	}
	if ((e = load_file(&p, path)) < 0) {
		sc_policy_free(&p);
		return e;
	}
	for (int k = 0; k < SC_KIND_ALL && !e; k++) {
		void *bpf;
		size_t len;
		e = k == SC_SPAWN ? sc_compile_spawner(&p, &bpf, &len) : seccomp_compile(&p.kinds[k], &bpf, &len);
		if (!e)
			progs[k] = (struct sock_fprog){ (unsigned short)(len / sizeof(struct sock_filter)), bpf };
		else
			log_error("seccomp: cannot compile the '%s' filter: %s", sc_kind_name(k), strerror(-e));
	}
	progs_from_file = true;
	sc_policy_free(&p);
	return e;
}

int seccomp_start(const struct sc_options *o)
{
	if (o->disabled) {
		log_info("seccomp is off (--no-seccomp)");
		return 0;
	}
	if (progs_from_file) {   /* a second start (tests): the built-in ones again, or a new file */
		for (int k = 0; k < SC_KIND_ALL; k++)
			free(progs[k].filter);
		memset(progs, 0, sizeof(progs));
		progs_from_file = false;
	}
	int e = 0;
	if (o->filter_path)
		e = compile_with_file(o->filter_path);
	else
		builtin_pid = (uint32_t)getpid();
	if (e < 0)
		return e;

	const char *t = getenv("PETREL_SECCOMP_TEST_TRIGGER");   /* tests only: see seccomp.h */
	if (t && *t && (trigger_kind = sc_kind_from_name(t)) == SC_KIND_NONE)
		log_warn("PETREL_SECCOMP_TEST_TRIGGER: '%s' is not a thread kind", t);

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		e = -errno;
		log_error("seccomp: PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return e;
	}
	if ((e = sc_sigsys_install()) < 0) {
		log_error("seccomp: cannot install the SIGSYS handler: %s", strerror(-e));
		return e;
	}
	enabled = true;
	/* The spawner's filter (every kind's list) first, on this thread, so that the spawner
	 * inherits it rather than installing a copy, and main's own on top of it (union ∩ main =
	 * main). A thread's first filter is the dear one: the kernel runs it for every system
	 * call number to build its cache, where a stacked one is run only for the calls the
	 * filters below allow (measured on a PVM host: 330-410 µs against 85-117 µs). Sanitizer
	 * builds leave main unfiltered (below), so there the spawner installs its own. */
	spawn_inherited = false;
	if (!SC_SANITIZER && (e = install(SC_SPAWN)) < 0) {
		enabled = false;
		log_error("seccomp: cannot install the spawner's filter: %s", strerror(-e));
		return e;
	}
	spawn_inherited = !SC_SANITIZER;
	/* With the built-in lists main keeps the union as its policy: main's own list is the
	 * union but for clone of a thread, seccomp() to add a filter, select and pselect6, none of
	 * which gives a thread more than its own filter allows; a stacked copy of the rest cost a
	 * filter install (~50 us on a PVM host) at every start, and main could not start `petrel
	 * run`'s threads itself (each a hop through the spawner). A --seccomp-filter FILE's main
	 * list is stacked on the union as written. */
	bool main_union = spawn_inherited && !o->filter_path;
	if ((e = thread_spawner_start(seccomp_enter, main_union)) < 0) {
		enabled = false;
		log_error("seccomp: cannot start the spawner thread: %s", strerror(-e));
		return e;
	}
	/* Sanitizer builds: LeakSanitizer checks at exit from a ptrace'ing helper process that
	 * main clones; under main's filter it would die and leave main waiting for ever. */
	if (main_union)
		seccomp_test_point(SC_MAIN);
	else if (!SC_SANITIZER && (e = seccomp_enter(SC_MAIN)) < 0) {
		log_error("seccomp: cannot filter the main thread: %s", strerror(-e));
		return e;
	}
	log_debug("seccomp: filters on (%s)", o->filter_path ? o->filter_path : "built-in lists");
	return 0;
}
