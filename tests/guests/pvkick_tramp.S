/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AP code for the pvkick guest: like smp_tramp.S, but the AP then halts with interrupts
 * disabled (cli; hlt), as Linux's paravirtual spinlock waiter does, and counts each time it
 * comes out of hlt: only a kick (KVM_HC_KICK_CPU) or an NMI can wake it.
 */
	.section .lowblob, "a"
	.code16
	.globl kick_tramp_start, kick_tramp_end
kick_tramp_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lock incw (kick_ready - kick_tramp_start)
1:	hlt
	lock incw (kick_wakes - kick_tramp_start)
	jmp	1b

	.org	0x100
kick_ready:				/* offset 0x100 */
	.word	0
	.org	0x110
kick_wakes:				/* offset 0x110 */
	.word	0
kick_tramp_end:
