/* Seccomp filters: one allow-list per kind of petrel thread (docs/security.md#seccomp).
 *
 * seccomp_start() runs once on the main thread before anything untrusted is read or any
 * thread exists: it sets no_new_privs, installs the SIGSYS handler, takes every kind's BPF
 * program (compiled at build time from lists.c by gen/sc_gen.c; compiled now with libseccomp
 * only for --seccomp-filter), starts the spawner thread (util/thread.c) and filters the main
 * thread.
 * From then on every thread starts through thread_start(), which installs its kind's filter
 * before the thread runs any of petrel's code. */
#ifndef PETREL_SECCOMP_H
#define PETREL_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/thread_kind.h"

/* enum sc_kind (the kinds of petrel thread) and their names: util/thread_kind.h. */

/* ---- policies (policy.c) ---- */

enum sc_op { SC_OP_EQ, SC_OP_NE, SC_OP_LT, SC_OP_LE, SC_OP_GT, SC_OP_GE, SC_OP_MASKED_EQ };

struct sc_arg {
	uint8_t index;      /* 0..5 */
	bool dword;         /* compare the low 32 bits only */
	enum sc_op op;
	uint64_t val, mask; /* mask: SC_OP_MASKED_EQ only */
};

#define SC_MAX_ARGS 6

struct sc_rule {
	int nr;             /* x86-64 system call number */
	uint8_t nargs;      /* all must hold (AND); several rules for one call are ORed */
	struct sc_arg args[SC_MAX_ARGS];
};

struct sc_list {
	uint32_t default_action;   /* SCMP_ACT_* for calls no rule allows */
	uint32_t rule_action;      /* SCMP_ACT_ALLOW or SCMP_ACT_LOG */
	struct sc_rule *rules;
	size_t n, cap;
};

/* One list per kind; `from_file` says which came from --seccomp-filter. */
struct sc_policy {
	struct sc_list kinds[SC_KIND_MAX];
	bool from_file[SC_KIND_MAX];
	uint32_t pid;   /* the pid the built-in lists let tgkill signal (0: ours) */
};

void sc_list_free(struct sc_list *l);
int sc_list_add(struct sc_list *l, const struct sc_rule *r);
void sc_policy_free(struct sc_policy *p);

/* petrel's own lists (lists.c), resolved by libseccomp (loaded for it: -ENOTSUP without).
 * petrel itself installs them as compiled at build time (gen/sc_gen.c); this is for
 * --seccomp-filter, which replaces some kinds, and for tests. */
int sc_policy_builtin(struct sc_policy *p);

/* Replace the kinds a --seccomp-filter document names (format in docs/security.md). The
 * document is untrusted: errors say where; on error *p is unchanged. */
int sc_policy_parse_json(struct sc_policy *p, const char *text, size_t len, char *err, size_t errlen);

/* ---- start-up (seccomp.c) ---- */

struct sc_options {
	bool disabled;           /* --no-seccomp */
	const char *filter_path; /* --seccomp-filter FILE */
};

/* Takes --no-seccomp and --seccomp-filter FILE (or =FILE) out of argv (for `petrel run`,
 * whose other parsers never see them). -1 on a missing FILE. */
int seccomp_take_args(int *argc, char **argv, struct sc_options *o);

/* Everything above; then the calling (main) thread runs under SC_MAIN. 0, or -errno with a
 * message logged (a bad filter file: -EINVAL). With o->disabled only NNP is left unset and
 * nothing is filtered. */
int seccomp_start(const struct sc_options *o);
bool seccomp_enabled(void);

/* Install kind's filter on the calling thread and unblock SIGSYS (thread_start's trampoline
 * calls it). 0 or -errno; a no-op when seccomp is off. */
int seccomp_enter(int kind);

/* Test-only: with PETREL_SECCOMP_TEST_TRIGGER=KIND in the environment at start, the first
 * thread of that kind makes a system call no list allows, as soon as its filter is on. */
void seccomp_test_point(int kind);

/* A list compiled by libseccomp (compile.c; loads the library): 0 or -errno. */
int seccomp_compile(const struct sc_list *l, void **bpf, size_t *len);

#endif
