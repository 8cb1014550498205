/* SPDX-License-Identifier: Apache-2.0 */
/*
 * counter: counts in ring 3 and prints the count every `every` increments
 * (default 2^24):
 *   "count=N"            N = 1, 2, 3, ... times `every`
 * after lines=N such lines it passes (default: counts until the VM is stopped).
 * Lines are printed per count, not per unit of time, so while the VM is
 * paused nothing appears, and after a resume the next line is the next
 * multiple: the count neither moved on nor restarted (tests/api uses this
 * for PATCH /vm Paused/Resumed).
 *
 * boot_timer=1: first write the boot timer's magic byte (123) to its MMIO
 * register at 0xd0020000 (petrel --boot-timer logs the boot time).
 * fill_mib=N: first write a non-zero pattern over N MiB of RAM from 16 MiB up
 * (in ring 3), so snapshots have that much memory to save (bench/snapshot.py).
 * rewrite=1 (with fill_mib): before each count line, check the region still
 * holds generation G's pattern, then write generation G+1's and print
 * "gen=G+1 ok" (a mismatch fails the guest): memory restored from a chain of
 * Diff snapshots must be exactly what was written (tests/api).
 * passes=K (with rewrite): K such check-and-rewrite passes per line, in ring 3 with no
 * output between them: a guest dirtying memory as fast as it can (live migration's
 * auto-converge); the line then says the last generation.
 */
#include "guest.h"

DEFINE_GUEST("counter");

#define BOOT_TIMER_MMIO 0xd0020000ul /* LAYOUT_BOOT_TIMER */
#define BOOT_TIMER_MAGIC 123

static unsigned long every;
static long fill_mib, rewrite, passes = 1;
static uint64_t gen = 1;

static uint64_t pattern(uint64_t g, unsigned long i) { return 0x9e3779b97f4a7c15ull * (i + 1) ^ (g << 56); }

static void regen(void)
{
	uint64_t *p = (uint64_t *)(uintptr_t)(16ul << 20);
	unsigned long n = ((unsigned long)fill_mib << 20) / 8;
	for (unsigned long i = 0; i < n; i++)
		if (p[i] != pattern(gen, i))
			fail("memory at %#lx holds %#lx, generation %lu wrote %#lx", (unsigned long)(uintptr_t)&p[i],
			     (unsigned long)p[i], (unsigned long)gen, (unsigned long)pattern(gen, i));
	gen++;
	for (unsigned long i = 0; i < n; i++)
		p[i] = pattern(gen, i);
}

static long count(long lines)
{
	unsigned long n = 0;
	for (long l = 0; lines <= 0 || l < lines; l++) {
		for (unsigned long i = 0; i < every; i++) {
			n++;
			barrier();
		}
		if (rewrite) {
			for (long k = 0; k < passes; k++)
				regen();
			printf("gen=%lu ok\n", (unsigned long)gen);
		}
		printf("count=%lu\n", n / every);
	}
	return 0;
}

static long fill(long mib)
{
	uint64_t *p = (uint64_t *)(uintptr_t)(16ul << 20);
	for (unsigned long i = 0; i < ((unsigned long)mib << 20) / 8; i++)
		p[i] = pattern(gen, i);
	return 0;
}

void test_main(void)
{
	long e = cmdline_int("every", 1l << 24);
	every = e > 0 ? (unsigned long)e : 1;
	if (cmdline_int("boot_timer", 0)) {
		*(volatile uint8_t *)BOOT_TIMER_MMIO = BOOT_TIMER_MAGIC;
		printf("counter: signalled the boot timer\n");
	}
	fill_mib = cmdline_int("fill_mib", 0);
	rewrite = cmdline_int("rewrite", 0);
	passes = cmdline_int("passes", 1);
	if (passes < 1)
		passes = 1;
	if (fill_mib > 0) {
		printf("counter: filling %ld MiB\n", fill_mib);
		user_call(fill, fill_mib, USER_IF);
		printf("counter: filled %ld MiB\n", fill_mib);
	}
	long lines = cmdline_int("lines", 0);
	printf("counter: counting in ring 3, a line every %lu\n", every);
	user_call(count, lines, USER_IF);
	pass();
}
