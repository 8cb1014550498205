/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pvkick: KVM's paravirtual kick. Linux uses it for its paravirtual spinlocks when CPUID
 * 0x40000001 offers KVM_FEATURE_PV_UNHALT: a waiter halts with interrupts off and the
 * unlocker's KVM_HC_KICK_CPU hypercall must wake it, or the waiter sleeps for ever. The AP
 * (pvkick_tramp.S) halts with IF=0 and counts its wakes; when the feature is offered the BSP
 * kicks it and waits (bounded) for one wake.
 * Prints "pvkick features=0x... unhalt=0|1" and, when it kicked, "pvkick woke=yes|no".
 * force=1 kicks even when the feature is not offered: on a PVM host the hypercall never
 * completes (the vCPU spins in the host kernel on the instruction), which is why petrel hides
 * the hypercall-based features there (src/arch/x86/cpuid.c). Needs cpus=2.
 */
#include "guest.h"

DEFINE_GUEST("pvkick");

#define TRAMP 0x8000u
#define KVM_HC_KICK_CPU 5
#define KVM_FEATURE_PV_UNHALT 7

extern char kick_tramp_start[], kick_tramp_end[];
static volatile uint16_t *const ready = (volatile uint16_t *)(uintptr_t)(TRAMP + 0x100);
static volatile uint16_t *const wakes = (volatile uint16_t *)(uintptr_t)(TRAMP + 0x110);

/* Ring 3: wait up to 2 s until *p reaches want. */
static long wait_for(long want)
{
	struct deadline d;
	deadline_start(&d, 2);
	volatile uint16_t *p = want > 0 ? wakes : ready;
	uint16_t goal = (uint16_t)(want > 0 ? want : 1);
	while (*p < goal && !deadline_expired(&d))
		pause();
	return *p;
}

static long kick(unsigned apic_id)
{
	uint32_t a, b, c, d;
	cpuid(0, 0, &a, &b, &c, &d);
	long ret;
	if (b == 0x68747541) /* "Auth": AMD's instruction */
		__asm__ __volatile__("vmmcall" : "=a"(ret) : "a"(KVM_HC_KICK_CPU), "b"(0), "c"(apic_id) : "memory");
	else
		__asm__ __volatile__("vmcall" : "=a"(ret) : "a"(KVM_HC_KICK_CPU), "b"(0), "c"(apic_id) : "memory");
	return ret;
}

void test_main(void)
{
	uint32_t a, b, c, d;
	cpuid(0x40000001, 0, &a, &b, &c, &d);
	bool unhalt = a >> KVM_FEATURE_PV_UNHALT & 1;
	printf("pvkick features=0x%x unhalt=%d\n", a, unhalt);
	if (!unhalt && !cmdline_has("force=1"))
		pass();
	lapic_enable();
	memcpy((void *)(uintptr_t)TRAMP, kick_tramp_start, (size_t)(kick_tramp_end - kick_tramp_start));
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, 0x000c4500); /* INIT, all excluding self */
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, 0x000c4600 | (TRAMP >> 12)); /* SIPI */
	check(user_call(wait_for, 0, 0) == 1, "the AP did not start");
	uint16_t before = *wakes;
	kick(1);
	long after = user_call(wait_for, before + 1, 0);
	printf("pvkick woke=%s\n", after > before ? "yes" : "no");
	pass();
}
