/* Between the files of src/seccomp. */
#ifndef PETREL_SECCOMP_INT_H
#define PETREL_SECCOMP_INT_H

#include "seccomp/seccomp.h"

#include <linux/filter.h>
#include <seccomp.h>

/* ASan/UBSan builds: the runtime needs more (lists.c), and main stays unfiltered (seccomp.c). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
#define SC_SANITIZER 1
#else
#define SC_SANITIZER 0
#endif

/* What the spawner needs itself (pthread_create), added to the union of every kind. */
int sc_spawner_own(struct sc_list *l, uint32_t pid);
/* The built-in lists of a build with or without sanitizers, tgkill's first argument `pid`
 * (sc_policy_builtin: this build's, our own pid). The generator makes both variants. */
int sc_policy_builtin_as(struct sc_policy *p, bool sanitizer, uint32_t pid);

/* ---- compiling with libseccomp (compile.c) ---- */

/* The spawner's filter: the union of every kind's list and its own needs. */
int sc_compile_spawner(const struct sc_policy *p, void **bpf, size_t *len);
bool sc_has_call(const struct sc_list *l, int nr);

/* libseccomp's functions petrel uses, loaded on first use (libseccomp.c). */
struct sc_libseccomp {
	scmp_filter_ctx (*init)(uint32_t def_action);
	void (*release)(scmp_filter_ctx ctx);
	int (*attr_set)(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value);
	int (*rule_add_array)(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int n,
			      const struct scmp_arg_cmp *args);
	int (*export_bpf)(const scmp_filter_ctx ctx, int fd);
	int (*resolve_name_arch)(uint32_t arch, const char *name);
	char *(*resolve_num_arch)(uint32_t arch, int num);
};
extern struct sc_libseccomp sc_lib;
/* 0, or -ENOTSUP with why in err (may be NULL). Once loaded it stays. */
int sc_lib_load(char *err, size_t errlen);
/* x86-64 number of a system call name, -1 if none (or no libseccomp). */
int sc_syscall_nr(const char *name);

/* ---- the filters compiled at build time (builtin.c, generated sc_builtin_bpf.c) ---- */

struct sc_builtin {
	struct sock_filter *insns;   /* writable: tgkill's pid is put in at start */
	unsigned short len;
	unsigned short npid;
	const unsigned short *pid_at;   /* the instructions whose k is tgkill's pid */
};

#define SC_SYSCALL_NAMES 512

/* [sanitizer][kind], SC_SPAWN included. */
extern const struct sc_builtin sc_builtin_bpf[2][SC_KIND_ALL];
/* x86-64 system call names: offsets into one string (no relocations to make at start). */
extern const char sc_syscall_name_text[];
extern const unsigned short sc_syscall_name_at[SC_SYSCALL_NAMES];   /* 0: no name */

/* This build's program of `kind` with `pid` put in, ready for seccomp(SECCOMP_SET_MODE_FILTER). */
void sc_builtin_prog(int kind, bool sanitizer, uint32_t pid, struct sock_fprog *out);
/* ... of every kind. */
void sc_builtin_progs(struct sock_fprog progs[SC_KIND_ALL], bool sanitizer, uint32_t pid);
/* NULL if nr has no name */
const char *sc_syscall_name(int nr);

#endif
