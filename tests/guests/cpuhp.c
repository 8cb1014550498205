/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cpuhp: vCPU hot-plug as a guest sees it, without an ACPI interpreter (issue 14). It does by
 * hand what the DSDT's \_SB.CPUS methods and Linux do: on each GED event (port 0x610, bit 1)
 * it scans vCPU 1's status in the register block at port 0x620 (selector, then status:
 * present, inserting, removing), acknowledges with write-1-to-clear, brings a new vCPU up with
 * INIT, SIPI, SIPI to its APIC ID (smp_tramp.S checks it in), and on a removal request ejects
 * it. Twice: the second add reuses the vCPU petrel parked at the eject. Hostile writes first
 * (a selector past every vCPU, an eject of the boot CPU) must change nothing.
 * Host side (tests/api/test_api_hotplug_vcpu.py), driven by these lines:
 *   "cpuhp: want add R"        -> PATCH /hotplug/vcpu {"vcpu_count": 2}
 *   "cpuhp: cpu 1 up (round R)" -> PATCH /hotplug/vcpu {"vcpu_count": 1}
 *   "cpuhp: cpu 1 ejected (round R)", and "cpuhp ok" at the end.
 */
#include "guest.h"

DEFINE_GUEST("cpuhp");

#define GED_PORT 0x610
#define GED_EVT_CPU 0x2
#define CPUHP_PORT 0x620
#define CPUHP_STATUS (CPUHP_PORT + 4)
#define ST_PRESENT 0x1
#define ST_INSERTING 0x2
#define ST_REMOVING 0x4
#define CTL_EJECT 0x8

#define AP_TRAMP_ADDR 0x8000u
#define AP_COUNT_OFF 0x100

extern char ap_tramp_start[], ap_tramp_end[];
static volatile uint16_t *const ap_count = (volatile uint16_t *)(uintptr_t)(AP_TRAMP_ADDR + AP_COUNT_OFF);

static uint8_t status_of(uint32_t cpu)
{
	outl(CPUHP_PORT, cpu);
	return inb(CPUHP_STATUS);
}

/* Poll the GED register (a read takes every pending bit) until the CPU event comes. */
static long wait_event(long seconds)
{
	struct deadline d;
	deadline_start(&d, (int)seconds);
	for (;;) {
		for (int i = 0; i < 1000; i++) {
			if (inl(GED_PORT) & GED_EVT_CPU)
				return 1;
			pause();
		}
		if (deadline_expired(&d))
			return 0;
	}
}

static long wait_aps(long n)
{
	struct deadline d;
	deadline_start(&d, 20);
	while (*ap_count < n) {
		for (int i = 0; i < 10000 && *ap_count < n; i++)
			pause();
		if (deadline_expired(&d))
			break;
	}
	return *ap_count;
}

static void start_ap(unsigned apic_id)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, 0x00004500); /* INIT, assert, physical destination */
	for (int i = 0; i < 2; i++) {
		lapic_write(LAPIC_ICR_HI, apic_id << 24);
		lapic_write(LAPIC_ICR_LO, 0x00004600 | (AP_TRAMP_ADDR >> 12)); /* SIPI */
	}
}

void test_main(void)
{
	long wait_s = cmdline_int("timeout", 60);
	check(status_of(0) == ST_PRESENT, "vCPU 0: status %#x, expected present", status_of(0));
	check(status_of(1) == 0, "vCPU 1: status %#x before any add", status_of(1));
	/* hostile: selectors past every vCPU read 0 and take no command; vCPU 0 stays */
	outl(CPUHP_PORT, 0xffffffffu);
	check(inb(CPUHP_STATUS) == 0, "selector 0xffffffff: status not 0");
	outb(CPUHP_STATUS, 0xff);
	outl(CPUHP_PORT, 0);
	outb(CPUHP_STATUS, CTL_EJECT);
	check(status_of(0) == ST_PRESENT, "the boot CPU was ejected");
	check(inb(CPUHP_PORT + 5) == 0 && inb(CPUHP_PORT + 7) == 0, "reserved bytes not 0");

	lapic_enable();
	memcpy((void *)(uintptr_t)AP_TRAMP_ADDR, ap_tramp_start, (size_t)(ap_tramp_end - ap_tramp_start));
	for (int round = 1; round <= 2; round++) {
		printf("cpuhp: want add %d\n", round);
		check(user_call(wait_event, wait_s, 0), "round %d: no GED CPU event for the add", round);
		uint8_t st = status_of(1);
		check(st == (ST_PRESENT | ST_INSERTING), "round %d: vCPU 1 status %#x after the add", round, st);
		outb(CPUHP_STATUS, ST_INSERTING);
		check(status_of(1) == ST_PRESENT, "round %d: inserting not cleared", round);
		long before = *ap_count;
		start_ap(1);
		long got = user_call(wait_aps, before + 1, 0);
		check(got == before + 1, "round %d: vCPU 1 did not start (%ld APs checked in)", round, got);
		printf("cpuhp: cpu 1 up (round %d)\n", round);
		check(user_call(wait_event, wait_s, 0), "round %d: no GED CPU event for the removal", round);
		st = status_of(1);
		check(st == (ST_PRESENT | ST_REMOVING), "round %d: vCPU 1 status %#x after the removal request",
		      round, st);
		outb(CPUHP_STATUS, ST_REMOVING);
		outb(CPUHP_STATUS, CTL_EJECT); /* _EJ0: the AP sits in hlt, as an offlined CPU does */
		check(status_of(1) == 0, "round %d: vCPU 1 still present after the eject", round);
		printf("cpuhp: cpu 1 ejected (round %d)\n", round);
	}
	printf("cpuhp ok\n");
	pass();
}
