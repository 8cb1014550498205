/* SPDX-License-Identifier: Apache-2.0 */
/*
 * timer: PIT channel 0 at ~1 kHz on IRQ 0 through the PIC; the guest spins in
 * ring 3 with interrupts enabled and counts the ticks its ring-0 handler saw
 * over one RTC second (bounded: gives up after a few seconds).
 * Prints "timer ticks=N"; needs at least min_ticks=N (default 20).
 */
#include "guest.h"

DEFINE_GUEST("timer");

static volatile uint32_t ticks;

static void pit_irq(struct irq_frame *f) { ticks++; }

static long measure(long unused)
{
	/* align to an RTC second boundary, then count ticks over one second */
	struct deadline d;
	deadline_start(&d, 3);
	uint8_t s0 = rtc_read(0);
	uint32_t spins = 0;
	while (rtc_read(0) == s0 && !deadline_expired(&d))
		for (int i = 0; i < 1000; i++, spins++)
			pause();
	uint32_t t0 = ticks;
	uint8_t s1 = rtc_read(0);
	deadline_start(&d, 3);
	while (rtc_read(0) == s1 && !deadline_expired(&d))
		for (int i = 0; i < 1000; i++)
			pause();
	return (long)(ticks - t0);
}

void test_main(void)
{
	long hz = cmdline_int("hz", 1000);
	pic_init();
	pit_periodic((unsigned)hz);
	pic_set_handler(0, pit_irq);
	printf("timer: pit at %ld Hz, spinning in ring 3\n", hz);
	long n = user_call(measure, 0, USER_IF);
	pic_mask(0);
	printf("timer ticks=%ld total=%u\n", n, ticks);
	long min = cmdline_int("min_ticks", 20);
	check(n >= min, "only %ld timer interrupts in one second, expected at least %ld", n, min);
	pass();
}
