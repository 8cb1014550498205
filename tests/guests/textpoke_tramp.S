/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The textpoke guest's low blob (tests/guests/textpoke.c), copied to TEXTPOKE_ADDR (below
 * 1 MiB). The AP starts at its beginning in real mode and, until the BSP sets `stop`, turns the
 * first byte of `site` into an int3 and back into the jmp it was, as Linux's text_poke_bp()
 * does while it patches code another CPU runs. The BSP runs `site` (64-bit, ring 0): a loop
 * of "jmp +0; dec %rdi; jnz" that its #BP handler steps over when it meets the int3.
 */
	.section .lowblob, "a"
	.code16
	.globl textpoke_tramp_start, textpoke_tramp_end, textpoke_site
textpoke_tramp_start:
	cli
	mov	%cs, %ax
	mov	%ax, %ds
	lock incw (t_count - textpoke_tramp_start)
1:	cmpb	$0, (t_stop - textpoke_tramp_start)
	jne	3f
	movb	$0xcc, (site - textpoke_tramp_start)
	mov	$64, %cx
2:	pause
	loop	2b
	movb	$0xeb, (site - textpoke_tramp_start)
	lock incl (t_iters - textpoke_tramp_start)
	mov	$64, %cx
2:	pause
	loop	2b
	jmp	1b
3:	movb	$1, (t_done - textpoke_tramp_start)
4:	hlt
	jmp	4b

	.org	0x100
t_count:				/* TP_COUNT */
	.word	0
	.org	0x104
t_stop:					/* TP_STOP */
	.byte	0
	.org	0x108
t_iters:				/* TP_ITERS */
	.long	0
	.org	0x10c
t_done:					/* TP_DONE */
	.byte	0

	.org	0x200			/* TP_SITE: called as void site(uint64_t rounds) */
	.code64
site:
	.byte	0xeb, 0x00		/* jmp +0, or int3 and a 0 while the AP has it */
	dec	%rdi
	jnz	site
	ret
textpoke_tramp_end:
