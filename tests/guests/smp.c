/* SPDX-License-Identifier: Apache-2.0 */
/*
 * smp: bring up every AP the way firmware-less hardware does: INIT, SIPI,
 * SIPI through the local APIC ICR.  The expected CPU count comes from the
 * command line (cpus=N) and, when present, the ACPI MADT.  Each AP runs
 * smp_tramp.S in real mode; the BSP waits (bounded, in ring 3) until all of
 * them checked in with distinct APIC IDs.  Prints "smp cpus=N".
 */
#include "guest.h"

DEFINE_GUEST("smp");

#define AP_TRAMP_ADDR 0x8000u
#define AP_COUNT_OFF 0x100
#define AP_BITMAP_OFF 0x120

extern char ap_tramp_start[], ap_tramp_end[];

static uint8_t madt_ids[256];
static int madt_n;
static volatile uint16_t *const ap_count = (volatile uint16_t *)(uintptr_t)(AP_TRAMP_ADDR + AP_COUNT_OFF);
static volatile uint8_t *const ap_bitmap = (volatile uint8_t *)(uintptr_t)(AP_TRAMP_ADDR + AP_BITMAP_OFF);

static long read_madt(long unused)
{
	madt_n = acpi_madt_cpus(madt_ids, 256);
	return madt_n;
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

void test_main(void)
{
	long cpus = cmdline_int("cpus", 0);
	check(cpus >= 1 && cpus <= 255, "cmdline needs cpus=N (1..255): \"%s\"", boot.cmdline);
	user_call(read_madt, 0, 0);
	if (madt_n >= 0) {
		printf("smp: madt lists %d cpus:", madt_n);
		for (int i = 0; i < madt_n; i++)
			printf(" %u", madt_ids[i]);
		printf("\n");
		check(madt_n == cpus, "MADT lists %d CPUs, expected %ld", madt_n, cpus);
	} else {
		printf("smp: no ACPI MADT found\n");
		check(!cmdline_has("need_madt"), "no ACPI MADT");
	}

	lapic_enable();
	unsigned bsp = lapic_id();
	printf("smp: bsp apic id %u, starting %ld APs\n", bsp, cpus - 1);
	size_t len = (size_t)(ap_tramp_end - ap_tramp_start);
	memcpy((void *)(uintptr_t)AP_TRAMP_ADDR, ap_tramp_start, len);
	if (cpus > 1) {
		lapic_write(LAPIC_ICR_HI, 0);
		lapic_write(LAPIC_ICR_LO, 0x000c4500); /* INIT, assert, all excluding self */
		lapic_write(LAPIC_ICR_HI, 0);
		lapic_write(LAPIC_ICR_LO, 0x000c4600 | (AP_TRAMP_ADDR >> 12)); /* SIPI */
		lapic_write(LAPIC_ICR_HI, 0);
		lapic_write(LAPIC_ICR_LO, 0x000c4600 | (AP_TRAMP_ADDR >> 12)); /* SIPI again */
	}
	long got = user_call(wait_aps, cpus - 1, 0);

	int seen = 0;
	printf("smp: %ld APs checked in, apic ids:", got);
	for (int id = 0; id < 256; id++)
		if (ap_bitmap[id / 8] & (1u << (id % 8))) {
			printf(" %d", id);
			seen++;
			check((unsigned)id != bsp, "an AP reported the BSP's APIC ID %u", bsp);
			if (madt_n > 0) {
				bool listed = false;
				for (int i = 0; i < madt_n; i++)
					listed |= madt_ids[i] == id;
				check(listed, "AP with APIC ID %d is not in the MADT", id);
			}
		}
	printf("\n");
	check(got == cpus - 1, "%ld of %ld APs started", got, cpus - 1);
	check(seen == cpus - 1, "%d distinct AP APIC IDs for %ld APs", seen, cpus - 1);
	printf("smp cpus=%ld\n", cpus);
	pass();
}
