/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpuid: report what CPUID says on every vCPU, for the host-side tests to
 * check (tests/guests/test_cpuid_*.py): topology (leaves 1, 4, 0xB, 0x1F),
 * features (1, 7, 0xD, 0x80000001), the KVM paravirtual leaves
 * (0x40000000/1) and the local APIC ID each vCPU really has.
 *
 * The BSP starts the APs with INIT-SIPI-SIPI (as the smp guest does).  Each
 * AP runs the real-mode trampoline below: it takes a record slot, runs every
 * query of cpuid_queries[] into its record, reads its local APIC ID through
 * the x2APIC ID MSR, marks the record done and halts.  The BSP fills record
 * 0 the same way from ring 0 (its APIC ID from the xAPIC MMIO register) and
 * also runs a few queries from ring 3, then prints everything from ring 3:
 *
 *   cpuid cpu=SLOT apic=ID                      (ID = -1 when unknown)
 *   cpuid cpu=SLOT leaf=0xL sub=0xS eax=0x.. ebx=0x.. ecx=0x.. edx=0x..
 *   cpuid ring3 leaf=0xL sub=0xS eax=...        (BSP, queried from ring 3)
 *   cpuid cpus=N
 *
 * SLOT is the order the vCPU checked in (0 = BSP), not its APIC ID.
 * Command line: cpus=N (required, all must check in), timeout=SECONDS.
 */
#include "guest.h"

DEFINE_GUEST("cpuid");

#define CPUID_TRAMP_ADDR 0x8000u
#define CPUID_NEXT_OFF 0x100  /* u16: next free record slot (starts at 1) */
#define CPUID_COUNT_OFF 0x102 /* u16: APs done */
#define CPUID_REC_BASE 0x30000u /* above the command line, below the EBDA */
#define CPUID_REC_SIZE 0x110u
#define CPUID_REC_DONE 0x44495043u /* "CPID" */
#define CPUID_NQUERIES 16
#define CPUID_MAX_CPUS 64

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * The trampoline: 16-bit real mode, copied to CPUID_TRAMP_ADDR.  DS = CS
 * addresses the trampoline, ES the AP's record (record n is at segment
 * (CPUID_REC_BASE + n * CPUID_REC_SIZE) >> 4).
 */
__asm__(
	"	.pushsection .lowblob, \"a\"\n"
	"	.code16\n"
	"	.globl cpuid_tramp_start, cpuid_tramp_end, cpuid_queries\n"
	"cpuid_tramp_start:\n"
	"	cli\n"
	"	mov	%cs, %ax\n"
	"	mov	%ax, %ds\n"
	"	mov	$1, %ax\n"
	"	lock xaddw %ax, (" STR(CPUID_NEXT_OFF) ")\n"
	"	imul	$(" STR(CPUID_REC_SIZE) " >> 4), %ax, %ax\n"
	"	add	$(" STR(CPUID_REC_BASE) " >> 4), %ax\n"
	"	mov	%ax, %es\n"
	"	xor	%si, %si\n"
	"	mov	$16, %di\n"
	"1:	movl	(cpuid_queries - cpuid_tramp_start)(%si), %eax\n"
	"	movl	(cpuid_queries - cpuid_tramp_start + 4)(%si), %ecx\n"
	"	cpuid\n"
	"	movl	%eax, %es:0(%di)\n"
	"	movl	%ebx, %es:4(%di)\n"
	"	movl	%ecx, %es:8(%di)\n"
	"	movl	%edx, %es:12(%di)\n"
	"	add	$8, %si\n"
	"	add	$16, %di\n"
	"	cmp	$(" STR(CPUID_NQUERIES) " * 8), %si\n"
	"	jb	1b\n"
	/* local APIC ID: x2APIC mode for this AP only, then the ID MSR */
	"	movl	$0xffffffff, %es:4\n"
	"	mov	$1, %eax\n"
	"	xor	%ecx, %ecx\n"
	"	cpuid\n"
	"	bt	$21, %ecx\n"
	"	jnc	2f\n"
	"	mov	$0x1b, %ecx\n"	/* IA32_APIC_BASE */
	"	rdmsr\n"
	"	or	$0xc00, %eax\n"	/* EN | EXTD */
	"	wrmsr\n"
	"	mov	$0x802, %ecx\n"	/* x2APIC ID */
	"	rdmsr\n"
	"	movl	%eax, %es:4\n"
	"2:	movl	$" STR(CPUID_REC_DONE) ", %es:0\n"
	"	lock incw (" STR(CPUID_COUNT_OFF) ")\n"
	"	mov	$0xff, %al\n"
	"	out	%al, $0xf5\n"
	"3:	hlt\n"
	"	jmp	3b\n"
	"	.org	cpuid_tramp_start + " STR(CPUID_NEXT_OFF) "\n"
	"	.word	1\n"
	"	.word	0\n"
	"	.balign	8\n"
	"cpuid_queries:\n"
	"	.long	0x00000000, 0\n"
	"	.long	0x00000001, 0\n"
	"	.long	0x00000004, 0\n"
	"	.long	0x00000007, 0\n"
	"	.long	0x00000007, 1\n"
	"	.long	0x0000000b, 0\n"
	"	.long	0x0000000b, 1\n"
	"	.long	0x0000000d, 0\n"
	"	.long	0x0000000d, 1\n"
	"	.long	0x0000001f, 0\n"
	"	.long	0x0000001f, 1\n"
	"	.long	0x40000000, 0\n"
	"	.long	0x40000001, 0\n"
	"	.long	0x80000000, 0\n"
	"	.long	0x80000001, 0\n"
	"	.long	0x80000008, 0\n"
	"cpuid_tramp_end:\n"
	"	.code64\n"
	"	.popsection\n");

extern char cpuid_tramp_start[], cpuid_tramp_end[];
extern const uint32_t cpuid_queries[CPUID_NQUERIES][2];

struct cpuid_regs {
	uint32_t eax, ebx, ecx, edx;
};

struct cpuid_rec {
	uint32_t magic;
	uint32_t apic_id;
	uint32_t pad[2];
	struct cpuid_regs r[CPUID_NQUERIES];
};
_Static_assert(sizeof(struct cpuid_rec) == CPUID_REC_SIZE, "record layout");

static volatile uint16_t *const ap_count = (volatile uint16_t *)(uintptr_t)(CPUID_TRAMP_ADDR + CPUID_COUNT_OFF);
static volatile uint16_t *const ap_next = (volatile uint16_t *)(uintptr_t)(CPUID_TRAMP_ADDR + CPUID_NEXT_OFF);
static struct cpuid_rec *const recs = (struct cpuid_rec *)(uintptr_t)CPUID_REC_BASE;

/* Queried from ring 3 on the BSP: under PVM ring 3 runs natively, so this
 * shows whether CPUID there is still the VMM's (CPUID faulting) or the host's. */
static const uint32_t ring3_queries[][2] = {
	{ 0x1, 0 }, { 0x7, 0 }, { 0x40000000, 0 },
};
static struct cpuid_regs ring3_regs[ARRAY_SIZE(ring3_queries)];

static long clear_records(long n)
{
	memset(recs, 0, (size_t)n * sizeof(*recs));
	return 0;
}

static long wait_aps(long n)
{
	struct deadline d;
	deadline_start(&d, (int)cmdline_int("timeout", 10));
	while (*ap_count < n) {
		for (int i = 0; i < 10000 && *ap_count < n; i++)
			pause();
		if (deadline_expired(&d))
			break;
	}
	return *ap_count;
}

static long query_ring3(long unused)
{
	for (size_t i = 0; i < ARRAY_SIZE(ring3_queries); i++) {
		struct cpuid_regs *r = &ring3_regs[i];
		cpuid(ring3_queries[i][0], ring3_queries[i][1], &r->eax, &r->ebx, &r->ecx, &r->edx);
	}
	return 0;
}

static void print_regs(const char *who, uint32_t leaf, uint32_t sub, const struct cpuid_regs *r)
{
	printf("cpuid %s leaf=0x%x sub=0x%x eax=0x%x ebx=0x%x ecx=0x%x edx=0x%x\n", who, leaf, sub, r->eax,
	       r->ebx, r->ecx, r->edx);
}

static long print_all(long n)
{
	char who[16];
	for (long c = 0; c < n; c++) {
		const struct cpuid_rec *rec = &recs[c];
		if (rec->magic != CPUID_REC_DONE) {
			printf("cpuid cpu=%ld incomplete\n", c);
			continue;
		}
		printf("cpuid cpu=%ld apic=%d\n", c, (int)rec->apic_id);
		snprintf(who, sizeof(who), "cpu=%ld", c);
		for (int q = 0; q < CPUID_NQUERIES; q++)
			print_regs(who, cpuid_queries[q][0], cpuid_queries[q][1], &rec->r[q]);
	}
	for (size_t i = 0; i < ARRAY_SIZE(ring3_queries); i++)
		print_regs("ring3", ring3_queries[i][0], ring3_queries[i][1], &ring3_regs[i]);
	return 0;
}

void test_main(void)
{
	long cpus = cmdline_int("cpus", 0);
	check(cpus >= 1 && cpus <= CPUID_MAX_CPUS, "cmdline needs cpus=N (1..%d): \"%s\"", CPUID_MAX_CPUS,
	      boot.cmdline);
	user_call(clear_records, cpus, 0);

	/* The BSP's own record, from ring 0 like the APs. */
	struct cpuid_rec *bsp = &recs[0];
	for (int q = 0; q < CPUID_NQUERIES; q++) {
		struct cpuid_regs *r = &bsp->r[q];
		cpuid(cpuid_queries[q][0], cpuid_queries[q][1], &r->eax, &r->ebx, &r->ecx, &r->edx);
	}
	lapic_enable();
	bsp->apic_id = lapic_id();
	bsp->magic = CPUID_REC_DONE;
	user_call(query_ring3, 0, 0);

	size_t len = (size_t)(cpuid_tramp_end - cpuid_tramp_start);
	memcpy((void *)(uintptr_t)CPUID_TRAMP_ADDR, cpuid_tramp_start, len);
	if (cpus > 1) {
		lapic_write(LAPIC_ICR_HI, 0);
		lapic_write(LAPIC_ICR_LO, 0x000c4500); /* INIT, assert, all excluding self */
		lapic_write(LAPIC_ICR_HI, 0);
		lapic_write(LAPIC_ICR_LO, 0x000c4600 | (CPUID_TRAMP_ADDR >> 12)); /* SIPI */
		lapic_write(LAPIC_ICR_HI, 0);
		lapic_write(LAPIC_ICR_LO, 0x000c4600 | (CPUID_TRAMP_ADDR >> 12)); /* SIPI again */
	}
	long got = cpus > 1 ? user_call(wait_aps, cpus - 1, 0) : 0;
	user_call(print_all, cpus, 0);
	check(got == cpus - 1, "%ld of %ld APs checked in", got, cpus - 1);
	check(*ap_next == cpus, "%u record slots taken for %ld APs", *ap_next - 1u, cpus - 1);
	printf("cpuid cpus=%ld\n", cpus);
	pass();
}
