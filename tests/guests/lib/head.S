/* SPDX-License-Identifier: Apache-2.0 */
/*
 * head.S - entry points, descriptor tables, page tables and interrupt stubs
 * of the test guests.  Linked at 0x100000 (guest.ld); one image boots both
 * ways:
 *   PVH:     ELF note XEN_ELFNOTE_PHYS32_ENTRY -> pvh_start (0x100000), 32-bit
 *            protected mode, paging off, EBX = struct hvm_start_info.
 *   bzImage: Linux 64-bit boot protocol, entry at load address + 0x200
 *            (startup_64), long mode, RSI = struct boot_params (zero page);
 *            or the 32-bit boot protocol (GRUB's `linux` on BIOS), entry at
 *            code32_start = startup_32, protected mode, paging off, flat
 *            CS 0x10 / DS 0x18, ESI = struct boot_params.
 * Everything that would be a loop at boot (page tables, stub table) is
 * assembled as static data: under PVM each ring-0 instruction is emulated.
 */

#define BOOT_PVH 1
#define BOOT_BZIMAGE 2

#define SEL_KCODE 0x10
#define SEL_KDATA 0x18
#define SEL_UCODE 0x33
#define SEL_UDATA 0x2b

#define CR0_PE 0x00000001
#define CR0_PG 0x80000000
#define CR4_PAE 0x00000020
#define MSR_EFER 0xC0000080
#define EFER_LME 0x00000100

#define PTE_P 0x001
#define PTE_W 0x002
#define PTE_U 0x004
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS 0x080

	.section .head.text, "ax"

/* ---------------------------------------------------------------- PVH ---- */
	.code32
	.globl pvh_start
pvh_start:
	mov	%ebx, %esi		/* hvm_start_info */
	mov	$BOOT_PVH, %edi
	jmp	enter_long

/* ----------------------------------------------------- Linux 32-bit ---- */
/* mkbzimage.py writes this label's address into the setup header's
 * code32_start: the zero page is in ESI already, as for startup_64. */
	.globl startup_32
startup_32:
	mov	$BOOT_BZIMAGE, %edi

/* Both 32-bit entries: protected mode, paging off, ESI = boot structure,
 * EDI = BOOT_*.  Enable long mode with our page tables. */
enter_long:
	cli
	cld
	lgdt	gdt_ptr
	mov	%cr4, %eax
	or	$CR4_PAE, %eax
	mov	%eax, %cr4
	mov	$pml4, %eax
	mov	%eax, %cr3
	mov	$MSR_EFER, %ecx
	rdmsr
	or	$EFER_LME, %eax
	wrmsr
	mov	%cr0, %eax
	or	$(CR0_PG | CR0_PE), %eax
	mov	%eax, %cr0
	ljmp	$SEL_KCODE, $long32

/* ----------------------------------------------------- Linux 64-bit ---- */
	.code64
	.org	0x200
	.globl startup_64
startup_64:
	cli
	cld
	mov	$BOOT_BZIMAGE, %edi	/* rsi = boot_params already */
	jmp	common64

long32:					/* from enter_long */
	mov	%esi, %esi		/* zero-extend: upper halves are undefined */
	mov	%edi, %edi

common64:
	lgdt	gdt_ptr(%rip)
	mov	$SEL_KDATA, %eax
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	xor	%eax, %eax
	mov	%eax, %fs
	mov	%eax, %gs
	/* Our own page tables (the loader's may lack the U/S bit). */
	mov	$pml4, %eax
	mov	%rax, %cr3
	lea	boot_stack_top(%rip), %rsp
	xor	%ebp, %ebp
	/* CS is SEL_KCODE on every path (32-bit entries: our ljmp; startup_64:
	 * the protocol's __BOOT_CS, which is the same slot in our GDT). */
	call	guest_start
1:	jmp	1b

/* ------------------------------------------------------------ ring 3 ---- */
	.text
/* long user_enter(long (*fn)(long), long arg, unsigned long rflags) */
	.globl user_enter
user_enter:
	push	%rbx
	push	%rbp
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, kernel_saved_rsp(%rip)
	push	$SEL_UDATA		/* ss */
	lea	user_stack_top(%rip), %rax
	push	%rax			/* rsp */
	push	%rdx			/* rflags */
	push	$SEL_UCODE		/* cs */
	lea	user_trampoline(%rip), %rax
	push	%rax			/* rip */
	mov	%rdi, %rax
	mov	%rsi, %rdi
	iretq

user_trampoline:			/* ring 3 */
	call	*%rax
	mov	%rax, %rdi
	xor	%eax, %eax		/* SYS_USER_RETURN */
	int3				/* the guest's system call, see guest.h */
	ud2

/* noreturn void user_return(long value): called in ring 0 by the system call;
 * drops the interrupt frame and returns from user_enter(). */
	.globl user_return
user_return:
	mov	kernel_saved_rsp(%rip), %rsp
	mov	$SEL_KDATA, %eax
	mov	%eax, %ss
	mov	%eax, %ds
	mov	%eax, %es
	mov	%rdi, %rax
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%rbp
	pop	%rbx
	ret

/* ----------------------------------------------------- interrupt stubs ---- */
/* 256 stubs, 16 bytes apart: isr_stubs + 16 * vector. */
	.p2align 4
	.globl isr_stubs
isr_stubs:
	.set	vec, 0
	.rept	256
	.p2align 4
	.if (vec == 8) || (vec == 10) || (vec == 11) || (vec == 12) || (vec == 13) || (vec == 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
	pushq	$vec			/* the CPU pushed an error code */
	.else
	pushq	$0
	pushq	$vec
	.endif
	jmp	isr_common
	.set	vec, vec + 1
	.endr

isr_common:
	push	%rax
	push	%rcx
	push	%rdx
	push	%rbx
	push	%rbp
	push	%rsi
	push	%rdi
	push	%r8
	push	%r9
	push	%r10
	push	%r11
	push	%r12
	push	%r13
	push	%r14
	push	%r15
	mov	%rsp, %rdi
	cld
	call	isr_dispatch
	pop	%r15
	pop	%r14
	pop	%r13
	pop	%r12
	pop	%r11
	pop	%r10
	pop	%r9
	pop	%r8
	pop	%rdi
	pop	%rsi
	pop	%rbp
	pop	%rbx
	pop	%rdx
	pop	%rcx
	pop	%rax
	add	$16, %rsp		/* vector, error code */
	iretq

/* --------------------------------------------------------------- data ---- */
	.data
	.p2align 4
	.globl gdt
gdt:
	.quad	0			/* 0x00 null */
	.quad	0x00cf9a000000ffff	/* 0x08 kernel code, 32-bit */
	.quad	0x00af9a000000ffff	/* 0x10 kernel code, 64-bit */
	.quad	0x00cf92000000ffff	/* 0x18 kernel data */
	.quad	0x00cffa000000ffff	/* 0x20 user code, 32-bit (DPL 3) */
	.quad	0x00cff2000000ffff	/* 0x28 user data (DPL 3) */
	.quad	0x00affa000000ffff	/* 0x30 user code, 64-bit (DPL 3) */
	.quad	0			/* 0x38 unused */
	.quad	0, 0			/* 0x40 TSS, filled in by cpu_init() */
gdt_end:

	.p2align 4
	.globl gdt_ptr
gdt_ptr:				/* usable by both 32-bit and 64-bit lgdt */
	.word	gdt_end - gdt - 1
	.quad	gdt

	.p2align 3
kernel_saved_rsp:
	.quad	0

/* Identity map of 0-4 GiB with 2 MiB pages, user-accessible (PVM runs ring 3
 * natively, and the tests run their loops there); the top GiB (MMIO: IOAPIC,
 * LAPIC, ...) uncached. */
	.section .data.pagetables, "aw"
	.p2align 12
	.globl pml4
pml4:
	.quad	pdpt + (PTE_P | PTE_W | PTE_U)
	.fill	511, 8, 0
pdpt:
	.quad	pd + 0x0000 + (PTE_P | PTE_W | PTE_U)
	.quad	pd + 0x1000 + (PTE_P | PTE_W | PTE_U)
	.quad	pd + 0x2000 + (PTE_P | PTE_W | PTE_U)
	.quad	pd + 0x3000 + (PTE_P | PTE_W | PTE_U)
	.fill	508, 8, 0
	.globl pd
pd:
	.set	pg, 0
	.rept	1536
	.quad	(pg << 21) | (PTE_P | PTE_W | PTE_U | PTE_PS)
	.set	pg, pg + 1
	.endr
	.rept	512
	.quad	(pg << 21) | (PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PCD | PTE_PWT)
	.set	pg, pg + 1
	.endr

/* ---------------------------------------------------------------- bss ---- */
	.bss
	.p2align 12
	.globl boot_stack_top, irq_stack_top, user_stack_top
boot_stack:
	.skip	16384
boot_stack_top:
irq_stack:
	.skip	16384
irq_stack_top:
user_stack:
	.skip	65536
user_stack_top:

/* ------------------------------------------------------ PVH ELF note ---- */
	.section .note.Xen, "a", @note
	.p2align 2
	.long	4			/* namesz */
	.long	4			/* descsz */
	.long	18			/* XEN_ELFNOTE_PHYS32_ENTRY */
	.asciz	"Xen"
	.long	pvh_start
	.p2align 2

	.section .note.GNU-stack, "", @progbits
