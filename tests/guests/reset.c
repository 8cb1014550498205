/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reset: the guest resets the machine; petrel must end with status 0.
 *   mode=i8042 (default): pulse the reset line through the i8042 (0xFE to
 *                         port 0x64).
 *   mode=triple:          triple fault: an empty IDT and an exception.
 * Reaching the end of either is a failure.
 */
#include "guest.h"

DEFINE_GUEST("reset");

void test_main(void)
{
	if (cmdline_is("mode", "triple")) {
		printf("reset: triple fault\n");
		struct {
			uint16_t limit;
			uint64_t base;
		} __attribute__((packed)) idtr = { 0, 0 };
		__asm__ __volatile__("lidt %0; ud2" ::"m"(idtr));
	} else {
		printf("reset: i8042 reset\n");
		outb(0x64, 0xfe);
	}
	/* petrel must not run the guest on after the reset */
	fail("still running after the reset");
}
