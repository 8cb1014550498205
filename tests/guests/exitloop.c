/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exitloop: benchmark guest.  Ring 3 (IOPL=3) loop of iters=N (default
 * 1000000) `out` instructions to petrel's null port 0xF5, each one a full
 * exit to petrel and back.  Prints "exitloop iters=N tsc=CYCLES" and exits 0.
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
	long n = cmdline_int("iters", 1000000);
	printf("exitloop: start iters=%ld\n", n);
	user_call(loop, n, 0);
	printf("exitloop iters=%ld tsc=%lu\n", n, (unsigned long)tsc_cycles);
	pass();
}
