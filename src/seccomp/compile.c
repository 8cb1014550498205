/* Compiling lists to BPF with libseccomp: each kind's list, and the spawner's union. At run
 * time only --seccomp-filter FILE gets here; the built-in lists are compiled by the same code
 * at build time (gen/sc_gen.c). See seccomp.h and docs/security.md#seccomp. */
#include "seccomp/seccomp_int.h"

#include <errno.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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
	return sc_lib.rule_add_array(ctx, act, r->nr, r->nargs, c);
}

bool sc_has_call(const struct sc_list *l, int nr)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->rules[i].nr == nr)
			return true;
	return false;
}

/* Rules of `l` into ctx (whose default is `def`). */
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
	int e = sc_lib.export_bpf(ctx, fd);
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
	if (sc_lib_load(NULL, 0) < 0)
		return NULL;
	scmp_filter_ctx ctx = sc_lib.init(def);
	/* i386 or x32 calls: no name to give, no use for them: the process goes. */
	if (ctx && sc_lib.attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0) {
		sc_lib.release(ctx);
		return NULL;
	}
	/* A binary search on the call number (docs/security.md#how-the-filters-are-built). The
	 * attribute is libseccomp 2.5's: an older library, loaded for a --seccomp-filter FILE,
	 * builds its default linear chain, which decides the same: a failure is not one. */
	if (ctx)
		(void)sc_lib.attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	return ctx;
}

/* clone3 -> ENOSYS unless a rule names it (glibc then uses clone, which lists can check). */
static int finish(scmp_filter_ctx ctx, bool clone3_named, uint32_t def, void **bpf, size_t *len)
{
	int e = 0;
	if (!clone3_named && def != SCMP_ACT_ERRNO(ENOSYS))   /* libseccomp refuses a rule = default */
		e = sc_lib.rule_add_array(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0, NULL);
	if (!e)
		e = export(ctx, bpf, len);
	sc_lib.release(ctx);
	return e;
}

int seccomp_compile(const struct sc_list *l, void **bpf, size_t *len)
{
	scmp_filter_ctx ctx = new_ctx(l->default_action);
	if (!ctx)
		return -ENOMEM;
	int e = add_list(ctx, l, l->rule_action, l->default_action);
	if (e < 0) {
		sc_lib.release(ctx);
		return e;
	}
	return finish(ctx, sc_has_call(l, SCMP_SYS(clone3)), l->default_action, bpf, len);
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

int sc_compile_spawner(const struct sc_policy *p, void **bpf, size_t *len)
{
	uint32_t def = SCMP_ACT_TRAP;
	for (int k = 0; k < SC_KIND_MAX; k++)
		if (rank(p->kinds[k].default_action) > rank(def))
			def = p->kinds[k].default_action;
	struct sc_list own = { 0 }, all = { 0 };
	int e = sc_spawner_own(&own, p->pid ? p->pid : (uint32_t)getpid());
	bool clone3 = false;
	if (!e)
		e = add_unique(&all, &own);
	for (int k = 0; k < SC_KIND_MAX && !e; k++) {
		e = add_unique(&all, &p->kinds[k]);
		clone3 |= sc_has_call(&p->kinds[k], SCMP_SYS(clone3));
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
		sc_lib.release(ctx);
		return e;
	}
	return finish(ctx, clone3, def, bpf, len);
}
