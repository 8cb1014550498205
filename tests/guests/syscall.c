/* SPDX-License-Identifier: Apache-2.0 */
/*
 * syscall: SYSCALL from ring 3 reaches a supervisor-only entry point in ring 0 and SYSRET
 * returns, as a real kernel needs it. The entry code lives in its own 2 MiB page with the U/S
 * bit cleared (like Linux's text), followed by int3 padding. On PVM hosts, SYSCALL lands on
 * LSTAR still in ring 3 and page-faults there; petrel's SYSCALL shim (src/arch/x86/
 * pvm_syscall.c) must turn that into a ring-0 entry. Ordinary user page faults must still
 * reach the guest's own #PF handler. Prints "syscall ok N".
 */
#include "guest.h"

DEFINE_GUEST("syscall");

#define ENTRY_PAGE 0x400000ul /* PD slot 2: made supervisor-only below */
#define DATA (ENTRY_PAGE + 0x1000)
#define MSR_EFER 0xc0000080
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_SFMASK 0xc0000084
#define UNMAPPED 0x8000000000ul /* PML4 slot 1: not present */
#define CALLS 1000

/* The entry, copied to ENTRY_PAGE: records CS, RFLAGS, RCX, R11, counts, returns. */
extern char entry_start[], entry_end[];
__asm__(".globl entry_start, entry_end\n"
	"entry_start:\n"
	"	mov %cs, %rax\n"
	"	mov %rax, 0x401000\n"
	"	pushfq\n"
	"	pop %rax\n"
	"	mov %rax, 0x401008\n"
	"	mov %rcx, 0x401010\n"
	"	mov %r11, 0x401018\n"
	"	incq 0x401020\n"
	"	sysretq\n"
	"entry_end:\n");

struct entry_record {
	uint64_t cs, rflags, rcx, r11, count;
};
#define REC ((volatile struct entry_record *)DATA)

extern char after_syscall[];

static long user_syscalls(long n)
{
	for (long i = 0; i < n; i++)
		__asm__ __volatile__("mov $0x1234, %%rcx\n"
				     "std\n"
				     "syscall\n"
				     ".globl after_syscall\nafter_syscall:\n"
				     "cld"
				     ::: "rax", "rcx", "r11", "memory", "cc");
	return 0;
}

static volatile uint64_t pf_hits, pf_cs, pf_addr;

static void on_pf(struct irq_frame *f)
{
	pf_hits++;
	pf_cs = f->cs;
	pf_addr = read_cr2();
	f->rip = f->rcx; /* user_fault() puts its resume address in rcx */
}

static long user_fault(long unused)
{
	__asm__ __volatile__("lea 1f(%%rip), %%rcx\n"
			     "movq (%0), %%rax\n"
			     "1:" ::"d"(UNMAPPED) : "rax", "rcx", "memory");
	return 0;
}

static void make_supervisor_only(uint64_t addr)
{
	extern uint64_t pml4[];
	uint64_t *pdpt = (uint64_t *)(pml4[0] & ~0xfffull);
	uint64_t *pd = (uint64_t *)(pdpt[addr >> 30] & ~0xfffull);
	pd[(addr >> 21) & 511] &= ~4ull; /* clear U/S */
	write_cr3(read_cr3());
}

void test_main(void)
{
	size_t len = (size_t)(entry_end - entry_start);
	memcpy((void *)ENTRY_PAGE, entry_start, len);
	memset((void *)(ENTRY_PAGE + len), 0xcc, 0x400);
	memset((void *)DATA, 0, sizeof(struct entry_record));
	make_supervisor_only(ENTRY_PAGE);
	set_handler(14, on_pf);

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1); /* SCE */
	wrmsr(MSR_STAR, ((uint64_t)(SEL_UCODE32 - 3) << 48) | ((uint64_t)SEL_KCODE << 32));
	wrmsr(MSR_SFMASK, 0x47700); /* TF, IF, DF, IOPL, NT, AC */
	wrmsr(MSR_LSTAR, ENTRY_PAGE);

	user_call(user_syscalls, 1, 0);
	printf("syscall: entry cs=%lx rflags=%lx rcx=%lx (expected %lx) r11=%lx count=%lu\n",
	       (unsigned long)REC->cs, (unsigned long)REC->rflags, (unsigned long)REC->rcx,
	       (unsigned long)after_syscall, (unsigned long)REC->r11, (unsigned long)REC->count);
	check(REC->count == 1, "the entry ran %lu times, expected once", (unsigned long)REC->count);
	check((REC->cs & 3) == 0, "entry ran in ring %lu", (unsigned long)(REC->cs & 3));
	check(!(REC->rflags & 0x200), "entry ran with interrupts enabled");
	check(REC->rcx == (uint64_t)after_syscall, "RCX is not the return address");
	/* Ring 3 set DF before SYSCALL and SFMASK clears it for the entry, so DF in R11 (and not in
	 * the entry's RFLAGS) shows R11 holds the user's RFLAGS. (Not IF: user_call() enters ring 3
	 * with IF clear, which real KVM keeps and a PVM host turns on; not IOPL: ring 3 runs with
	 * IOPL 3 on real KVM and with the host's IOPL 0 on PVM.) */
	check(!(REC->rflags & 0x400), "entry ran with DF set (SFMASK not applied)");
	check(REC->r11 & 0x400, "R11 does not hold the user RFLAGS");

	user_call(user_syscalls, CALLS, 0);
	check(REC->count == 1 + CALLS, "%lu entries after %d more calls", (unsigned long)REC->count, CALLS);

	user_call(user_fault, 0, 0);
	check(pf_hits == 1 && (pf_cs & 3) == 3 && pf_addr == UNMAPPED,
	      "user page fault: hits %lu cs %lx cr2 %lx", (unsigned long)pf_hits,
	      (unsigned long)pf_cs, (unsigned long)pf_addr);
	printf("syscall ok %lu\n", (unsigned long)REC->count);
	pass();
}
