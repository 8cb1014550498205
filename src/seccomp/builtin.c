/* The built-in filters as compiled at build time (gen/sc_gen.c wrote sc_builtin_bpf.c from
 * lists.c with libseccomp): what petrel installs by default, with no filter compiled and no
 * libseccomp loaded at start. tests/unit/test_seccomp.c checks they equal what libseccomp
 * makes of lists.c now. */
#include "seccomp/seccomp_int.h"

void sc_builtin_prog(int kind, bool sanitizer, uint32_t pid, struct sock_fprog *out)
{
	const struct sc_builtin *b = &sc_builtin_bpf[sanitizer][kind];
	/* tgkill(pid, ...) may signal only our own threads: the pid is known only now. Threads
	 * of one kind may put it in at once: the same value, stored whole. */
	for (unsigned i = 0; i < b->npid; i++)
		__atomic_store_n(&b->insns[b->pid_at[i]].k, pid, __ATOMIC_RELAXED);
	*out = (struct sock_fprog){ b->len, b->insns };
}

void sc_builtin_progs(struct sock_fprog progs[SC_KIND_ALL], bool sanitizer, uint32_t pid)
{
	for (int k = 0; k < SC_KIND_ALL; k++)
		sc_builtin_prog(k, sanitizer, pid, &progs[k]);
}

const char *sc_syscall_name(int nr)
{
	if (nr < 0 || nr >= SC_SYSCALL_NAMES || !sc_syscall_name_at[nr])
		return NULL;
	return sc_syscall_name_text + sc_syscall_name_at[nr];
}
