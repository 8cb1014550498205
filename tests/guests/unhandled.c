/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unhandled: an instruction that neither KVM nor petrel can complete: an SSE
 * compare (pcmpeqb) whose memory operand is unbacked guest-physical space
 * (no RAM, no device), executed in ring 0.  petrel must stop with a non-zero
 * status and say why: the exit reason, RIP and the instruction bytes.
 */
#include "guest.h"

DEFINE_GUEST("unhandled");

#define UNBACKED 0xd0000000u

extern char unhandled_insn[];

void test_main(void)
{
	/* Allow SSE: CR0.EM=0, CR0.MP=1, CR4.OSFXSR|OSXMMEXCPT. */
	write_cr0((read_cr0() & ~(uint64_t)(1u << 2)) | (1u << 1));
	write_cr4(read_cr4() | (1u << 9) | (1u << 10));
	printf("unhandled: pcmpeqb at rip=%lx on %x\n", (unsigned long)(uintptr_t)unhandled_insn, UNBACKED);
	/* pcmpeqb (%rax), %xmm0 = 66 0f 74 00 */
	__asm__ __volatile__(".globl unhandled_insn\n"
			     "unhandled_insn: pcmpeqb (%0), %%xmm0" ::"a"((uintptr_t)UNBACKED) : "memory");
	fail("pcmpeqb on unbacked memory completed");
}
