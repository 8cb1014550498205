/* Seccomp start-up: compile each kind's list, the spawner's union, install on threads.
 * See seccomp.h and docs/security.md#seccomp. */
#include "seccomp/seccomp_int.h"
#include "util/util.h"
#include "util/log.h"
#include "util/thread.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SC_FILTER_FILE_MAX (1u << 20)

int sc_sigsys_install(void);   /* sigsys.c */

static bool enabled;
static struct sock_fprog progs[SC_KIND_ALL];
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

static int to_cmp(const struct sc_arg *a, struct scmp_arg_cmp *c)
{
	static const enum scmp_compare ops[] = {
		[SC_OP_EQ] = SCMP_CMP_EQ, [SC_OP_NE] = SCMP_CMP_NE, [SC_OP_LT] = SCMP_CMP_LT,
		[SC_OP_LE] = SCMP_CMP_LE, [SC_OP_GT] = SCMP_CMP_GT, [SC_OP_GE] = SCMP_CMP_GE,
		[SC_OP_MASKED_EQ] = SCMP_CMP_MASKED_EQ,
	};
	if (a->index >= SC_MAX_ARGS || (unsigned)a->op > SC_OP_MASKED_EQ)
		return -EINVAL;
	*c = (struct scmp_arg_cmp){ .arg = a->index, .op = ops[a->op], .datum_a = a->val, .datum_b = 0 };
	if (a->op == SC_OP_MASKED_EQ)
		*c = (struct scmp_arg_cmp){ a->index, SCMP_CMP_MASKED_EQ, a->mask, a->val };
	/* A dword compares the low 32 bits whatever the upper half holds (an int ioctl request
	 * is sign-extended by some callers): as a masked comparison. */
	if (a->dword)
		*c = (struct scmp_arg_cmp){ a->index, SCMP_CMP_MASKED_EQ,
					    a->op == SC_OP_MASKED_EQ ? a->mask & 0xffffffffu : 0xffffffffu,
					    a->val & 0xffffffffu };
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t act, const struct sc_rule *r)
{
	struct scmp_arg_cmp c[SC_MAX_ARGS];
	if (r->nargs > SC_MAX_ARGS)
		return -EINVAL;
	for (unsigned i = 0; i < r->nargs; i++)
		if (to_cmp(&r->args[i], &c[i]) < 0)
			return -EINVAL;
	return seccomp_rule_add_array(ctx, act, r->nr, r->nargs, c);
}

static bool has_call(const struct sc_list *l, int nr)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->rules[i].nr == nr)
			return true;
	return false;
}

/* Rules of `l` into ctx (whose default is `def`), then clone3 -> ENOSYS unless a rule names it. */
static int add_list(scmp_filter_ctx ctx, const struct sc_list *l, uint32_t act, uint32_t def)
{
	if (act == def)
		return 0;   /* every call gets the same answer anyway */
	for (size_t i = 0; i < l->n; i++) {
		int e = add_rule(ctx, act, &l->rules[i]);
		if (e < 0)
			return e;
	}
	return 0;
}

static int export(scmp_filter_ctx ctx, void **bpf, size_t *len)
{
	int fd = memfd_create("petrel-seccomp", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int e = seccomp_export_bpf(ctx, fd);
	off_t n = e < 0 ? 0 : lseek(fd, 0, SEEK_END);
	void *buf = NULL;
	if (!e && (n <= 0 || n % sizeof(struct sock_filter) || n > (off_t)(BPF_MAXINSNS * sizeof(struct sock_filter))))
		e = -E2BIG;
	if (!e && !(buf = malloc((size_t)n)))
		e = -ENOMEM;
	if (!e && pread(fd, buf, (size_t)n, 0) != n)
		e = -EIO;
	close(fd);
	if (e < 0) {
		free(buf);
		return e;
	}
	*bpf = buf;
	*len = (size_t)n;
	return 0;
}

static scmp_filter_ctx new_ctx(uint32_t def)
{
	scmp_filter_ctx ctx = seccomp_init(def);
	/* i386 or x32 calls: no name to give, no use for them: the process goes. */
	if (ctx && seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		seccomp_release(ctx);
		return NULL;
	}
	return ctx;
}

static int finish(scmp_filter_ctx ctx, bool clone3_named, uint32_t def, void **bpf, size_t *len)
{
	int e = 0;
	if (!clone3_named && def != SCMP_ACT_ERRNO(ENOSYS))   /* libseccomp refuses a rule = default */
		e = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (!e)
		e = export(ctx, bpf, len);
	seccomp_release(ctx);
	return e;
}

int seccomp_compile(const struct sc_list *l, void **bpf, size_t *len)
{
	scmp_filter_ctx ctx = new_ctx(l->default_action);
	if (!ctx)
		return -ENOMEM;
	int e = add_list(ctx, l, l->rule_action, l->default_action);
	if (e < 0) {
		seccomp_release(ctx);
		return e;
	}
	return finish(ctx, has_call(l, SCMP_SYS(clone3)), l->default_action, bpf, len);
}

/* The kernel runs every filter of a thread and keeps the most restrictive answer, so the
 * spawner's must never be stricter than a child's: the least restrictive default of all. */
static unsigned rank(uint32_t act)
{
	switch (act & SECCOMP_RET_ACTION_FULL) {
	case SCMP_ACT_KILL_PROCESS: return 0;
	case SCMP_ACT_KILL_THREAD: return 1;
	case SCMP_ACT_TRAP: return 2;
	case SCMP_ACT_LOG: return 6;
	case SCMP_ACT_ALLOW: return 7;
	}
	if ((act & SECCOMP_RET_ACTION_FULL) == SECCOMP_RET_ERRNO)
		return 3;
	return 4;
}

static int cmp_rule(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sc_rule));
}

/* Every kind's rules once each: the lists share most of their groups, and libseccomp takes
 * far longer to merge a thousand duplicates than to compile two hundred rules. */
static int add_unique(struct sc_list *u, const struct sc_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct sc_rule r;
		memset(&r, 0, sizeof(r));
		r.nr = l->rules[i].nr;
		r.nargs = l->rules[i].nargs > SC_MAX_ARGS ? SC_MAX_ARGS : l->rules[i].nargs;
		memcpy(r.args, l->rules[i].args, r.nargs * sizeof(r.args[0]));
		int e = sc_list_add(u, &r);
		if (e < 0)
			return e;
	}
	return 0;
}

static void dedupe(struct sc_list *u)
{
	if (!u->n)
		return;
	qsort(u->rules, u->n, sizeof(u->rules[0]), cmp_rule);
	size_t w = 1;
	for (size_t i = 1; i < u->n; i++)
		if (cmp_rule(&u->rules[i], &u->rules[w - 1]))
			u->rules[w++] = u->rules[i];
	u->n = w;
}

static int compile_spawner(const struct sc_policy *p, void **bpf, size_t *len)
{
	uint32_t def = SCMP_ACT_TRAP;
	for (int k = 0; k < SC_KIND_MAX; k++)
		if (rank(p->kinds[k].default_action) > rank(def))
			def = p->kinds[k].default_action;
	struct sc_list own = { 0 }, all = { 0 };
	int e = sc_spawner_own(&own);
	bool clone3 = false;
	if (!e)
		e = add_unique(&all, &own);
	for (int k = 0; k < SC_KIND_MAX && !e; k++) {
		e = add_unique(&all, &p->kinds[k]);
		clone3 |= has_call(&p->kinds[k], SCMP_SYS(clone3));
	}
	dedupe(&all);
	sc_list_free(&own);
	scmp_filter_ctx ctx = e < 0 ? NULL : new_ctx(def);
	if (!ctx) {
		sc_list_free(&all);
		return e < 0 ? e : -ENOMEM;
	}
	e = add_list(ctx, &all, SCMP_ACT_ALLOW, def);
	sc_list_free(&all);
	if (e < 0) {
		seccomp_release(ctx);
		return e;
	}
	return finish(ctx, clone3, def, bpf, len);
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

int seccomp_enter(int kind)
{
	if (!enabled || kind < 0 || kind >= SC_KIND_ALL)
		return 0;
	/* SIGSYS unblocked first: a blocked one would reach the kernel's default action and the
	 * handler would never log which call it was. */
	sigset_t s;
	sigemptyset(&s);
	sigaddset(&s, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &s, NULL);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &progs[kind]) < 0)
		return -errno;
	if (kind != SC_API)   /* the api kind's test point is libmicrohttpd's thread's first request */
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

int seccomp_start(const struct sc_options *o)
{
	if (o->disabled) {
		log_info("seccomp is off (--no-seccomp)");
		return 0;
	}
	struct sc_policy p;
	int e = sc_policy_builtin(&p);
	if (e < 0) {
		log_error("seccomp: cannot build the filters: %s", strerror(-e));
		return e;
	}
	if (o->filter_path && (e = load_file(&p, o->filter_path)) < 0) {
		sc_policy_free(&p);
		return e;
	}
	if (p.from_file[SC_API] && !has_call(&p.kinds[SC_API], SCMP_SYS(clone)))
		e = sc_api_threads(&p.kinds[SC_API]);   /* libmicrohttpd's thread (docs) */
	for (int k = 0; k < SC_KIND_MAX && !e; k++) {
		void *bpf;
		size_t len;
		e = seccomp_compile(&p.kinds[k], &bpf, &len);
		if (!e)
			progs[k] = (struct sock_fprog){ (unsigned short)(len / sizeof(struct sock_filter)), bpf };
		else
			log_error("seccomp: cannot compile the '%s' filter: %s", sc_kind_name(k), strerror(-e));
	}
	if (!e) {
		void *bpf;
		size_t len;
		e = compile_spawner(&p, &bpf, &len);
		if (!e)
			progs[SC_SPAWN] = (struct sock_fprog){ (unsigned short)(len / sizeof(struct sock_filter)), bpf };
		else
			log_error("seccomp: cannot compile the spawner's filter: %s", strerror(-e));
	}
	sc_policy_free(&p);
	if (e < 0)
		return e;

	const char *t = getenv("PETREL_SECCOMP_TEST_TRIGGER");   /* tests only: see seccomp.h */
	if (t && *t && (trigger_kind = sc_kind_from_name(t)) == SC_KIND_NONE)
		log_warn("PETREL_SECCOMP_TEST_TRIGGER: '%s' is not a thread kind", t);

	/* The time zone is read once, by the first log line's timestamp; read it now. */
	tzset();
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
	if ((e = thread_spawner_start()) < 0) {
		enabled = false;
		log_error("seccomp: cannot start the spawner thread: %s", strerror(-e));
		return e;
	}
	/* Sanitizer builds: LeakSanitizer checks at exit from a ptrace'ing helper process that
	 * main clones; under main's filter it would die and leave main waiting for ever. */
	if (!SC_SANITIZER && (e = seccomp_enter(SC_MAIN)) < 0) {
		log_error("seccomp: cannot filter the main thread: %s", strerror(-e));
		return e;
	}
	log_debug("seccomp: filters on (%s)", o->filter_path ? o->filter_path : "built-in lists");
	return 0;
}
