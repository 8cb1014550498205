/* The built-in filters as compiled at build time (gen/sc_gen.c wrote sc_builtin_bpf.c from
 * lists.c with libseccomp): what petrel installs by default, with no filter compiled and no
 * libseccomp loaded at start. tests/unit/test_seccomp.c checks they equal what libseccomp
 * makes of lists.c now. */
#include "seccomp/seccomp_int.h"

void sc_builtin_progs(struct sock_fprog progs[SC_KIND_ALL], bool sanitizer, uint32_t pid)
{
	for (int k = 0; k < SC_KIND_ALL; k++) {
		const struct sc_builtin *b = &sc_builtin_bpf[sanitizer][k];
		/* tgkill(pid, ...) may signal only our own threads: the pid is known only now */
		for (unsigned i = 0; i < b->npid; i++)
			b->insns[b->pid_at[i]].k = pid;
		progs[k] = (struct sock_fprog){ b->len, b->insns };
	}
}

const char *sc_syscall_name(int nr)
{
	if (nr < 0 || nr >= SC_SYSCALL_NAMES || !sc_syscall_name_at[nr])
		return NULL;
	return sc_syscall_name_text + sc_syscall_name_at[nr];
}
