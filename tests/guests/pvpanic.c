/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pvpanic: the guest reads the pvpanic port (0x505) for the events petrel supports, reports a
 * panic as a guest kernel would (writes bit 0, PVPANIC_PANICKED), and with crash=1 also that
 * its crash kernel took over (bit 1); then passes. petrel reports each as a `guest` event on
 * the event monitor and lets the guest run on (tests/api/test_events.py).
 */
#include "guest.h"

DEFINE_GUEST("pvpanic");

#define PVPANIC_PORT 0x505

void test_main(void)
{
	uint8_t supported = inb(PVPANIC_PORT);
	printf("pvpanic: supported events %#x\n", supported);
	if ((supported & 3) != 3)
		fail("the pvpanic port offers %#x, not PANICKED and CRASH_LOADED", supported);
	outb(PVPANIC_PORT, 1);
	if (cmdline_is("crash", "1"))
		outb(PVPANIC_PORT, 2);
	/* still running: petrel reported it and left the guest's fate to the guest */
	pass();
}
