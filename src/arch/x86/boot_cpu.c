#include "arch/x86/boot_cpu.h"
#include "arch/x86/layout.h"
#include "kvm/kvm_vcpu.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull
#define CR0_NE 0x20ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull

#define SEL_CODE 0x10
#define SEL_DATA 0x18
#define SEL_TSS 0x20

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING 0x1ull

static uint64_t gdt_entry(uint32_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

int x86_boot_tables(struct guest_mem *mem, enum boot_mode mode)
{
	uint64_t gdt[6] = {
		0, 0,
		mode == BOOT_PVH ? gdt_entry(0xc09b, 0, 0xfffff)  /* 32-bit code */
				 : gdt_entry(0xa09b, 0, 0xfffff), /* 64-bit code */
		gdt_entry(0xc093, 0, 0xfffff),                     /* data */
		gdt_entry(0x008b, 0, 0x67), 0,                     /* TSS (busy), 16 bytes */
	};
	if (guest_mem_write(mem, LAYOUT_GDT, gdt, sizeof(gdt)) < 0)
		return -EFAULT;
	if (mode == BOOT_PVH)
		return 0; /* PVH starts with paging off */

	/* Identity map of 0-4 GiB with 2 MiB pages: PML4[0] -> PDPT[0..3] -> 4 PDs. */
	uint64_t *pml4 = guest_mem_ptr(mem, LAYOUT_PML4, 4096);
	uint64_t *pdpt = guest_mem_ptr(mem, LAYOUT_PDPT, 4096);
	uint64_t *pd = guest_mem_ptr(mem, LAYOUT_PD, 4 * 4096);
	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

int x86_vcpu_init(int fd, unsigned id)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int e = kvm_set_fpu(fd, &fpu);
	if (e < 0) {
		log_error("vCPU %u: KVM_SET_FPU: %s", id, strerror(-e));
		return e;
	}
	if (kvm_set_msr(fd, MSR_IA32_MISC_ENABLE, MSR_IA32_MISC_ENABLE_FAST_STRING) < 0)
		log_warn("vCPU %u: could not set IA32_MISC_ENABLE", id);

	/* LINT0 delivers the 8259's ExtINT, LINT1 is NMI: what PC firmware leaves behind. */
	struct kvm_lapic_state lapic;
	if ((e = kvm_get_lapic(fd, &lapic)) < 0) {
		log_error("vCPU %u: KVM_GET_LAPIC: %s", id, strerror(-e));
		return e;
	}
	uint32_t lvt0 = 0x700, lvt1 = 0x400;
	memcpy(&lapic.regs[0x350], &lvt0, 4);
	memcpy(&lapic.regs[0x360], &lvt1, 4);
	if ((e = kvm_set_lapic(fd, &lapic)) < 0) {
		log_error("vCPU %u: KVM_SET_LAPIC: %s", id, strerror(-e));
		return e;
	}
	return 0;
}

static void flat_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code64, bool db)
{
	*s = (struct kvm_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
		.dpl = 0, .db = db, .s = 1, .l = code64, .g = 1,
	};
}

int x86_boot_regs(int fd, const struct boot_info *b)
{
	struct kvm_sregs sregs;
	int e = kvm_get_sregs(fd, &sregs);
	if (e < 0)
		return e;
	bool lm = b->mode == BOOT_LINUX64;
	flat_seg(&sregs.cs, SEL_CODE, 0xb, lm, !lm);
	flat_seg(&sregs.ds, SEL_DATA, 0x3, false, true);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr = (struct kvm_segment){ .selector = SEL_TSS, .limit = 0x67, .type = 0xb, .present = 1 };
	sregs.gdt.base = LAYOUT_GDT;
	sregs.gdt.limit = 6 * 8 - 1;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	sregs.cr0 = CR0_PE | CR0_ET | CR0_NE;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (lm) {
		sregs.cr0 |= CR0_PG;
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	}
	if ((e = kvm_set_sregs(fd, &sregs)) < 0) {
		log_error("KVM_SET_SREGS: %s", strerror(-e));
		return e;
	}
	struct kvm_regs regs = { .rflags = 0x2, .rip = b->entry, .rsp = LAYOUT_BOOT_STACK,
				 .rbp = LAYOUT_BOOT_STACK };
	if (lm)
		regs.rsi = b->params;
	else
		regs.rbx = b->params;
	if ((e = kvm_set_regs(fd, &regs)) < 0) {
		log_error("KVM_SET_REGS: %s", strerror(-e));
		return e;
	}
	return 0;
}
