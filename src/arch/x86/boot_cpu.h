/* Initial CPU state: the BSP enters the kernel the way its boot protocol says (64-bit
 * long mode with an identity map, or PVH 32-bit protected mode); APs wait for INIT/SIPI. */
#ifndef PETREL_ARCH_X86_BOOT_CPU_H
#define PETREL_ARCH_X86_BOOT_CPU_H

#include "arch/x86/boot_entry.h"

#include <stdbool.h>

struct guest_mem;

/* GDT and identity page tables in low guest memory. */
int x86_boot_tables(struct guest_mem *mem, enum boot_mode mode);
/* Register state every vCPU starts from: FPU, MSRs, LAPIC LINT0/LINT1. */
int x86_vcpu_init(int vcpu_fd, unsigned id);
/* Point the BSP at the kernel entry. */
int x86_boot_regs(int vcpu_fd, const struct boot_info *b);

#endif
