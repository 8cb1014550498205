/* SPDX-License-Identifier: Apache-2.0 */
/*
 * idle: prints "idle" and halts its vCPU with interrupts off, for good. KVM keeps a halted
 * vCPU asleep in the kernel, so the VM costs no CPU: what a host of many idle VMs looks like
 * (tests/manager's 100 VMs, bench/manager.py's running VMs and clones).
 */
#include "guest.h"

DEFINE_GUEST("idle");

void test_main(void)
{
	printf("idle\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
