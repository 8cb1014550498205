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
 */
#include "guest.h"

DEFINE_GUEST("counter");

#define BOOT_TIMER_MMIO 0xd0020000ul /* LAYOUT_BOOT_TIMER */
#define BOOT_TIMER_MAGIC 123

static unsigned long every;

static long count(long lines)
{
	unsigned long n = 0;
	for (long l = 0; lines <= 0 || l < lines; l++) {
		for (unsigned long i = 0; i < every; i++) {
			n++;
			barrier();
		}
		printf("count=%lu\n", n / every);
	}
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
	long lines = cmdline_int("lines", 0);
	printf("counter: counting in ring 3, a line every %lu\n", every);
	user_call(count, lines, USER_IF);
	pass();
}
