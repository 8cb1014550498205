/* Build-time compiler of petrel's built-in seccomp filters (docs/security.md#seccomp), the
 * job Firecracker's seccompiler does: runs on the build machine, compiles every kind's list
 * of lists.c (and the spawner's union) with libseccomp exactly as petrel would at run time,
 * and writes the BPF programs as C (sc_builtin_bpf.c, compiled into petrel), for builds with
 * and without sanitizers, with the x86-64 system call names for the SIGSYS report.
 *
 *     sc_gen OUTPUT.c
 *
 * tgkill's first argument is petrel's own pid, known only at run time: each program is
 * compiled twice with two different pids, and the instructions that differ, which must be
 * exactly `jeq #pid` comparisons, are listed for petrel to fill in at start. */
#include "seccomp/seccomp_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PID_A 0x5ec0a001u
#define PID_B 0x5ec0b002u

struct prog {
	struct sock_filter *f;
	size_t n;
};

static void free_progs(struct prog p[SC_KIND_ALL])
{
	for (int k = 0; k < SC_KIND_ALL; k++)
		free(p[k].f);
}

static int compile_all(bool sanitizer, uint32_t pid, struct prog out[SC_KIND_ALL])
{
	struct sc_policy p;
	memset(out, 0, sizeof(struct prog) * SC_KIND_ALL);
	int e = sc_policy_builtin_as(&p, sanitizer, pid);
	if (e < 0) {
		fprintf(stderr, "sc_gen: cannot build the lists: %s\n", strerror(-e));
		return e;
	}
	for (int k = 0; k < SC_KIND_ALL && !e; k++) {
		void *bpf = NULL;
		size_t len = 0;
		e = k == SC_SPAWN ? sc_compile_spawner(&p, &bpf, &len) : seccomp_compile(&p.kinds[k], &bpf, &len);
		if (e < 0)
			fprintf(stderr, "sc_gen: cannot compile '%s': %s\n", sc_kind_name(k), strerror(-e));
		out[k] = (struct prog){ bpf, len / sizeof(struct sock_filter) };
	}
	sc_policy_free(&p);
	if (e < 0)
		free_progs(out);
	return e;
}

/* The instructions where a and b differ: each must compare the accumulator with the pid. */
static int pid_slots(const struct prog *a, const struct prog *b, const char *kind, bool sanitizer,
		     size_t *slots, size_t *n)
{
	*n = 0;
	if (a->n != b->n) {
		fprintf(stderr, "sc_gen: '%s': the program's shape depends on the pid\n", kind);
		return -1;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct sock_filter *x = &a->f[i], *y = &b->f[i];
		if (!memcmp(x, y, sizeof(*x)))
			continue;
		if (x->code != (BPF_JMP | BPF_JEQ | BPF_K) || x->code != y->code || x->jt != y->jt ||
		    x->jf != y->jf || x->k != PID_A || y->k != PID_B) {
			fprintf(stderr, "sc_gen: '%s': instruction %zu differs with the pid in an unexpected way\n",
				kind, i);
			return -1;
		}
		slots[(*n)++] = i;
	}
	/* every kind allows tgkill on our own pid (lists.c's base group); a sanitizer build's
	 * allow it on any (the runtime's own group) */
	if (!*n && !sanitizer) {
		fprintf(stderr, "sc_gen: '%s': no tgkill pid comparison found\n", kind);
		return -1;
	}
	return 0;
}

static int emit_variant(FILE *o, int sanitizer, size_t lens[SC_KIND_ALL], size_t npids[SC_KIND_ALL])
{
	struct prog a[SC_KIND_ALL], b[SC_KIND_ALL];
	if (compile_all(sanitizer, PID_A, a) < 0)
		return -1;
	if (compile_all(sanitizer, PID_B, b) < 0) {
		free_progs(a);
		return -1;
	}
	int e = 0;
	for (int k = 0; k < SC_KIND_ALL && !e; k++) {
		size_t slots[BPF_MAXINSNS], n;
		if ((e = pid_slots(&a[k], &b[k], sc_kind_name(k), sanitizer, slots, &n)) < 0)
			break;
		fprintf(o, "\n/* %s%s: %zu instructions */\nstatic struct sock_filter f%d_%d[] = {\n",
			sc_kind_name(k), sanitizer ? " (sanitizer build)" : "", a[k].n, sanitizer, k);
		for (size_t i = 0, s = 0; i < a[k].n; i++) {
			uint32_t kv = a[k].f[i].k;
			if (s < n && slots[s] == i) {
				kv = 0;   /* the pid, put in at start */
				s++;
			}
			fprintf(o, "\t{ 0x%04x, %u, %u, 0x%08x },\n", a[k].f[i].code, a[k].f[i].jt, a[k].f[i].jf, kv);
		}
		fprintf(o, "};\n");
		if (n) {
			/* not const: beside its program in .data, which is written anyway, rather than
			 * in .rodata, where reading it would map another 64 KiB of petrel's file */
			fprintf(o, "static unsigned short p%d_%d[] = {", sanitizer, k);
			for (size_t s = 0; s < n; s++)
				fprintf(o, " %zu,", slots[s]);
			fprintf(o, " };\n");
		}
		lens[k] = a[k].n;
		npids[k] = n;
	}
	free_progs(a);
	free_progs(b);
	return e;
}

static int emit_names(FILE *o)
{
	/* one string, offsets into it: offset 0 (the leading empty name) means none */
	unsigned at[SC_SYSCALL_NAMES];
	unsigned off = 1;
	fprintf(o, "\nconst char sc_syscall_name_text[] =\n\t\"\\0\"");
	for (int nr = 0; nr < SC_SYSCALL_NAMES; nr++) {
		char *name = sc_lib.resolve_num_arch(SCMP_ARCH_X86_64, nr);
		at[nr] = 0;
		if (name && *name && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name)) {
			at[nr] = off;
			off += (unsigned)strlen(name) + 1;
			fprintf(o, "\n\t\"%s\\0\"", name);
		}
		free(name);
	}
	if (off > 0xffff) {
		fprintf(stderr, "sc_gen: the names do not fit 16-bit offsets\n");
		return -1;
	}
	fprintf(o, ";\n\nconst unsigned short sc_syscall_name_at[SC_SYSCALL_NAMES] = {");
	for (int nr = 0; nr < SC_SYSCALL_NAMES; nr++)
		fprintf(o, "%s%u,", nr % 12 ? " " : "\n\t", at[nr]);
	fprintf(o, "\n};\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: sc_gen OUTPUT.c\n");
		return 2;
	}
	char why[256];
	if (sc_lib_load(why, sizeof(why)) < 0) {
		fprintf(stderr, "sc_gen: %s\n", why);
		return 1;
	}
	FILE *o = fopen(argv[1], "w");
	if (!o) {
		fprintf(stderr, "sc_gen: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fprintf(o, "/* Generated at build time by src/seccomp/gen/sc_gen.c from src/seccomp/lists.c with\n"
		   " * libseccomp: do not edit. */\n#include \"seccomp/seccomp_int.h\"\n");
	size_t lens[2][SC_KIND_ALL], npids[2][SC_KIND_ALL];
	int e = 0;
	for (int s = 0; s < 2 && !e; s++)
		e = emit_variant(o, s, lens[s], npids[s]);
	if (!e) {
		fprintf(o, "\nconst struct sc_builtin sc_builtin_bpf[2][SC_KIND_ALL] = {\n");
		for (int s = 0; s < 2; s++) {
			fprintf(o, "\t{\n");
			for (int k = 0; k < SC_KIND_ALL; k++)
				if (npids[s][k])
					fprintf(o, "\t\t{ f%d_%d, %zu, %zu, p%d_%d },   /* %s */\n", s, k, lens[s][k],
						npids[s][k], s, k, sc_kind_name(k));
				else
					fprintf(o, "\t\t{ f%d_%d, %zu, 0, NULL },   /* %s */\n", s, k, lens[s][k],
						sc_kind_name(k));
			fprintf(o, "\t},\n");
		}
		fprintf(o, "};\n");
		e = emit_names(o);
	}
	if (fclose(o) != 0 && !e) {
		fprintf(stderr, "sc_gen: %s: %s\n", argv[1], strerror(errno));
		e = -1;
	}
	if (e) {
		remove(argv[1]);
		return 1;
	}
	return 0;
}
