/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exitloop: benchmark guest.  A loop of iters=N (default 10000) `out`
 * instructions to petrel's null port 0xF5, each a full exit to petrel and
 * back; ring=3 (default) runs it in ring 3 (I/O allowed by IOPL/the TSS
 * bitmap), ring=0 in ring 0.  Prints
 *   "exitloop iters=N ring=R tsc=CYCLES"
 * and exits 0.  (On PVM hosts a ring-3 `out` traps as #GP and is emulated by
 * KVM before it exits, so it is slower than the same exit from ring 0.)
 */
#include "guest.h"

DEFINE_GUEST("exitloop");

static uint64_t tsc_cycles;

static long loop(long n)
{
	uint64_t t0 = rdtsc();
	for (long i = 0; i < n; i++)
		__asm__ __volatile__("outb %%al, %0" ::"i"(NULL_PORT), "a"(0) : "memory");
	tsc_cycles = rdtsc() - t0;
	return n;
}

void test_main(void)
{
	long n = cmdline_int("iters", 10000);
	long ring = cmdline_int("ring", 3);
	check(ring == 0 || ring == 3, "ring=%ld: must be 0 or 3", ring);
	printf("exitloop: start iters=%ld ring=%ld\n", n, ring);
	if (ring == 3)
		user_call(loop, n, 0);
	else
		loop(n);
	printf("exitloop iters=%ld ring=%ld tsc=%lu\n", n, ring, (unsigned long)tsc_cycles);
	pass();
}
