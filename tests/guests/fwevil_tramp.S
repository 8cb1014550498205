/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fwevil guest's AP (fwevil_chipset.c copies this to FW_TRAMP_ADDR and starts it with
 * INIT-SIPI-SIPI). In real mode, for t_rounds rounds: every value 0..255 into each of the
 * i440FX's PAM0..PAM6 (PCI 00:00.0, 0x59-0x5f), each read back against the register's writable
 * bits (mismatches counted in t_bad), each followed by a far call into the BIOS area (t_far:
 * a retf the BSP found there, F000:off; 0 = none) while the BSP runs in the BIOS area too;
 * then the register's original value (t_orig) back. t_stop ends it early; t_done when over.
 */
	.section .lowblob, "a"
	.code16
	.globl fwevil_tramp_start, fwevil_tramp_end
fwevil_tramp_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	mov	%ax, %ss
	mov	$0x1000, %sp
	lock incw (t_started - fwevil_tramp_start)
	mov	(t_rounds - fwevil_tramp_start), %bp
round:
	xor	%si, %si			/* PAM index 0..6 */
reg:
	xor	%cx, %cx			/* value 0..255 */
val:
	cmpb	$0, (t_stop - fwevil_tramp_start)
	jne	done
	call	pam_write
	cmpw	$0, (t_far + 2 - fwevil_tramp_start)
	je	1f
	lcall	*(t_far - fwevil_tramp_start)
1:	lock incl (t_iters - fwevil_tramp_start)
	inc	%cx
	cmp	$256, %cx
	jb	val
	movzbw	(t_orig - fwevil_tramp_start)(%si), %cx
	call	pam_write
	inc	%si
	cmp	$7, %si
	jb	reg
	dec	%bp
	jnz	round
done:
	movb	$1, (t_done - fwevil_tramp_start)
2:	hlt
	jmp	2b

/* PAM[%si] = %cl, read back and compared under the writable mask (0x30 for PAM0, else 0x33). */
pam_write:
	lea	0x59(%si), %bx
	mov	%bx, %ax
	and	$0xfc, %ax
	movzwl	%ax, %eax
	or	$0x80000000, %eax
	mov	$0xcf8, %dx
	outl	%eax, %dx
	mov	%bx, %dx
	and	$3, %dx
	add	$0xcfc, %dx
	mov	%cl, %al
	outb	%al, %dx
	inb	%dx, %al
	mov	$0x33, %ah
	test	%si, %si
	jnz	3f
	mov	$0x30, %ah
3:	and	%ah, %al
	and	%cl, %ah
	cmp	%al, %ah
	je	4f
	lock incw (t_bad - fwevil_tramp_start)
4:	ret

	.org	0x100
t_started:	.word	0		/* FW_T_STARTED */
t_bad:		.word	0		/* FW_T_BAD */
t_iters:	.long	0		/* FW_T_ITERS */
t_far:		.word	0, 0		/* FW_T_FAR: offset, segment */
t_rounds:	.word	1		/* FW_T_ROUNDS */
t_done:		.byte	0		/* FW_T_DONE */
t_stop:		.byte	0		/* FW_T_STOP */
t_orig:		.fill	8, 1, 0		/* FW_T_ORIG: PAM0..PAM6 */
fwevil_tramp_end:
