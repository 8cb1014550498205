/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AP startup code for the smp guest.  The BSP copies it to AP_TRAMP_ADDR
 * (below 1 MiB) and sends INIT-SIPI-SIPI with vector AP_TRAMP_ADDR >> 12;
 * each AP starts here in real mode with CS = AP_TRAMP_ADDR >> 4, IP = 0,
 * records its APIC ID (CPUID.1:EBX[31:24]) in a bitmap, counts itself in,
 * reports on the null port and halts.
 */
	.section .lowblob, "a"
	.code16
	.globl ap_tramp_start, ap_tramp_end
ap_tramp_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	$1, %eax
	xor	%ecx, %ecx
	cpuid
	shr	$24, %ebx
	lock btsw %bx, (ap_bitmap - ap_tramp_start)
	lock incw (ap_count - ap_tramp_start)
	mov	%bl, %al
	out	%al, $0xf5
1:	hlt
	jmp	1b

	.org	0x100
ap_count:				/* AP_COUNT_OFF */
	.word	0
	.org	0x120
ap_bitmap:				/* AP_BITMAP_OFF: 256 bits */
	.fill	32, 1, 0
ap_tramp_end:
