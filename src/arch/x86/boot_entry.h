/* How the BSP enters the kernel: the boot protocol and the entry the loader (boot/) found.
 * Here, below boot/, because the vCPU set-up (boot_cpu.h) reads it and the loaders fill it. */
#ifndef PETREL_ARCH_X86_BOOT_ENTRY_H
#define PETREL_ARCH_X86_BOOT_ENTRY_H

#include <stdint.h>

enum boot_mode { BOOT_LINUX64, BOOT_PVH };

/* What the loader leaves for vCPU setup: where and how the BSP starts. */
struct boot_info {
	enum boot_mode mode;
	uint64_t entry;       /* 64-bit RIP (BOOT_LINUX64) or 32-bit EIP (BOOT_PVH) */
	uint64_t params;      /* zero page (RSI) or hvm_start_info (EBX) */
	uint64_t kernel_end;  /* first byte after what the kernel may use */
};

#endif
