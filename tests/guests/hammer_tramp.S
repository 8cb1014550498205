/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hammer guest's second vCPU (issue 9: two vCPUs hitting one device at once). The BSP
 * copies this to HAMMER_TRAMP_ADDR (below 1 MiB) and starts the AP with INIT-SIPI-SIPI; the AP
 * stays in real mode and, until the BSP sets `stop`, hammers the PCI configuration space of the
 * virtio-blk device the BSP is using (memory decoding off and on, BAR sizing: the BAR vanishes
 * from the MMIO window and comes back), and the legacy devices the BSP floods too (RTC index
 * latch, i8042, serial and ACPI PM status). Every register it changes it writes back.
 */
	.section .lowblob, "a"
	.code16
	.globl hammer_tramp_start, hammer_tramp_end
hammer_tramp_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lock incw (h_count - hammer_tramp_start)
1:	cmpb	$0, (h_stop - hammer_tramp_start)
	jne	2f
	/* PCI command register: memory decoding off, then back as it was */
	mov	$0xcf8, %dx
	mov	(h_cfg_cmd - hammer_tramp_start), %eax
	out	%eax, %dx
	mov	$0xcfc, %dx
	in	%dx, %ax
	mov	%ax, %bx
	and	$0xfffd, %ax
	out	%ax, %dx
	mov	%bx, %ax
	out	%ax, %dx
	/* BAR sizing: all ones, read the size mask, then the address back */
	mov	$0xcf8, %dx
	mov	(h_cfg_bar - hammer_tramp_start), %eax
	out	%eax, %dx
	mov	$0xcfc, %dx
	in	%dx, %eax
	mov	%eax, %ebx
	mov	$0xffffffff, %eax
	out	%eax, %dx
	in	%dx, %eax
	mov	%ebx, %eax
	out	%eax, %dx
	/* legacy devices: CMOS RAM through the shared RTC index latch, status registers */
	mov	$0x0e, %al
	out	%al, $0x70
	in	$0x71, %al
	inc	%al
	out	%al, $0x71
	in	$0x64, %al
	mov	$0x3fd, %dx
	in	%dx, %al
	mov	$0x600, %dx
	in	%dx, %ax
	lock incl (h_iters - hammer_tramp_start)
	jmp	1b
2:	movb	$1, (h_done - hammer_tramp_start)
3:	hlt
	jmp	3b

	.org	0x100
h_count:				/* HAMMER_COUNT_OFF */
	.word	0
	.org	0x104
h_stop:					/* HAMMER_STOP_OFF */
	.byte	0
	.org	0x108
h_iters:				/* HAMMER_ITERS_OFF */
	.long	0
	.org	0x10c
h_cfg_cmd:				/* HAMMER_CFG_CMD_OFF: CONFIG_ADDRESS of the command register */
	.long	0
	.org	0x110
h_cfg_bar:				/* HAMMER_CFG_BAR_OFF: CONFIG_ADDRESS of the BAR */
	.long	0
	.org	0x114
h_done:					/* HAMMER_DONE_OFF */
	.byte	0
	.org	0x118
hammer_tramp_end:
