/* SPDX-License-Identifier: Apache-2.0 */
/*
 * timer: PIT channel 0 at ~1 kHz on IRQ 0 through the PIC; the guest spins in
 * ring 3 with interrupts enabled and counts the ticks its ring-0 handler saw
 * over one RTC second (bounded: gives up after a few seconds).
 * Prints "timer ticks=N"; needs at least min_ticks=N (default 20).
 * With ioapic=1 the ticks come the way an ACPI guest takes them: the PIC masked, ISA IRQ 0
 * on IOAPIC pin 2 (the MADT's interrupt source override) to the local APIC.
 */
#include "guest.h"

DEFINE_GUEST("timer");

#define IOAPIC_TIMER_VECTOR 0x40

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
	bool ioapic = cmdline_int("ioapic", 0) != 0;
	pic_init();
	pit_periodic((unsigned)hz);
	if (ioapic) {
		lapic_enable();
		set_handler(IOAPIC_TIMER_VECTOR, pit_irq);
		ioapic_route(2, IOAPIC_TIMER_VECTOR, (uint8_t)lapic_id(), false, false);
	} else {
		pic_set_handler(0, pit_irq);
	}
	printf("timer: pit at %ld Hz through the %s, spinning in ring 3\n", hz, ioapic ? "IOAPIC (pin 2)" : "PIC");
	long n = user_call(measure, 0, USER_IF);
	if (ioapic)
		ioapic_route(2, IOAPIC_TIMER_VECTOR, (uint8_t)lapic_id(), false, true);
	else
		pic_mask(0);
	printf("timer ticks=%ld total=%u\n", n, ticks);
	long min = cmdline_int("min_ticks", 20);
	check(n >= min, "only %ld timer interrupts in one second, expected at least %ld", n, min);
	pass();
}
