/* SPDX-License-Identifier: Apache-2.0 */
/*
 * traps: CPU exceptions reach the guest's IDT with the right vector, error
 * code, RIP and CR2, from ring 0 (where PVM emulates every instruction and
 * petrel must turn e.g. int3 into an injected #BP) and from ring 3, and the
 * guest resumes after them.  Prints "traps ok N".
 */
#include "guest.h"

DEFINE_GUEST("traps");

#define UNMAPPED 0x8000000000ul /* PML4 slot 1: not present */

static volatile uint64_t resume; /* where the handler continues, 0: as is */
static volatile uint64_t got_vec, got_rip, got_err, got_cr2, got_cs, hits;

static void trap(struct irq_frame *f)
{
	got_vec = f->vector;
	got_rip = f->rip;
	got_err = f->error_code;
	got_cs = f->cs;
	got_cr2 = f->vector == 14 ? read_cr2() : 0;
	hits++;
	if (resume) {
		f->rip = resume;
		resume = 0;
	}
}

static void expect(const char *what, unsigned vec, uint64_t rip, uint64_t err, uint64_t cr2, unsigned ring)
{
	printf("traps: %-16s vector %lu rip %lx err %lx cr2 %lx cs %lx\n", what, (unsigned long)got_vec,
	       (unsigned long)got_rip, (unsigned long)got_err, (unsigned long)got_cr2, (unsigned long)got_cs);
	check(hits == 1, "%s: %lu exceptions, expected one", what, (unsigned long)hits);
	check(got_vec == vec, "%s: vector %lu, expected %u (%s)", what, (unsigned long)got_vec, vec, exception_name(vec));
	check(got_rip == rip, "%s: rip %lx, expected %lx", what, (unsigned long)got_rip, (unsigned long)rip);
	check(got_err == err, "%s: error code %lx, expected %lx", what, (unsigned long)got_err, (unsigned long)err);
	check(got_cr2 == cr2, "%s: cr2 %lx, expected %lx", what, (unsigned long)got_cr2, (unsigned long)cr2);
	check((got_cs & 3) == ring, "%s: from cs %lx, expected ring %u", what, (unsigned long)got_cs, ring);
	hits = 0;
}

/* Each case: the faulting instruction at label N, the resume point after it. */
extern char bp_after[], ud_at[], pf_at[], de_at[], gp_at[], upf_at[], uud_at[], ugp_at[];

static long user_ud(long unused)
{
	__asm__ __volatile__("movq $1f, resume\n"
			     ".globl uud_at\nuud_at: ud2\n1:" ::: "memory");
	return 0;
}

static long user_pf(long unused)
{
	__asm__ __volatile__("movq $1f, resume\n"
			     ".globl upf_at\nupf_at: movq (%0), %%rax\n1:" ::"d"(UNMAPPED) : "rax", "memory");
	return 0;
}

static long user_gp(long unused)
{
	__asm__ __volatile__("movq $1f, resume\n"
			     ".globl ugp_at\nugp_at: hlt\n1:" ::: "memory");
	return 0;
}

void test_main(void)
{
	static const int vecs[] = { 0, 3, 6, 13, 14 };
	for (unsigned i = 0; i < ARRAY_SIZE(vecs); i++)
		set_handler(vecs[i], trap);

	/* ring 0 */
	__asm__ __volatile__("int3\n.globl bp_after\nbp_after:" ::: "memory");
	expect("int3", 3, (uintptr_t)bp_after, 0, 0, 0);

	__asm__ __volatile__("movq $1f, resume\n"
			     ".globl ud_at\nud_at: ud2\n1:" ::: "memory");
	expect("ud2", 6, (uintptr_t)ud_at, 0, 0, 0);

	__asm__ __volatile__("movq $1f, resume\n"
			     ".globl pf_at\npf_at: movq (%0), %%rax\n1:" ::"d"(UNMAPPED) : "rax", "memory");
	expect("page fault", 14, (uintptr_t)pf_at, 0, UNMAPPED, 0);

	__asm__ __volatile__("movq $1f, resume\n"
			     "xor %%ecx, %%ecx\n"
			     ".globl de_at\nde_at: divl %%ecx\n1:" ::"a"(1), "d"(0) : "rcx", "memory");
	expect("divide error", 0, (uintptr_t)de_at, 0, 0, 0);

	__asm__ __volatile__("movq $1f, resume\n"
			     ".globl gp_at\ngp_at: movq (%0), %%rax\n1:" ::"d"(0x8000000000000000ul) : "rax", "memory");
	expect("non-canonical", 13, (uintptr_t)gp_at, 0, 0, 0);

	/* ring 3 (#BP from ring 3 is the guests' system call: not a case) */
	user_call(user_ud, 0, 0);
	expect("ring3 ud2", 6, (uintptr_t)uud_at, 0, 0, 3);
	user_call(user_pf, 0, 0);
	expect("ring3 page fault", 14, (uintptr_t)upf_at, 4 /* user, read, not present */, UNMAPPED, 3);
	user_call(user_gp, 0, 0);
	expect("ring3 hlt", 13, (uintptr_t)ugp_at, 0, 0, 3);
	printf("traps ok 8\n");
	pass();
}
