/* A small x86 instruction emulator for what the host's KVM refuses to run in guest ring 0
 * (on PVM hosts: int3, clac/stac, popcnt, fwait, ldmxcsr, the BMI1/BMI2 instructions, ...). Pure logic over a register file and
 * memory callbacks, so it can be unit-tested and fuzzed without KVM. */
#ifndef PETREL_ARCH_X86_EMULATE_H
#define PETREL_ARCH_X86_EMULATE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

enum { EMU_RAX, EMU_RCX, EMU_RDX, EMU_RBX, EMU_RSP, EMU_RBP, EMU_RSI, EMU_RDI,
       EMU_R8, EMU_R9, EMU_R10, EMU_R11, EMU_R12, EMU_R13, EMU_R14, EMU_R15 };

#define EMU_XSAVE_SIZE 4096 /* struct kvm_xsave */
#define EMU_XSAVE_MAX_COMPONENTS 64

/* Where each XSAVE state component lives in the standard form (CPUID leaf 0xD, subleaf i:
 * EBX = offset, EAX = size). Components 0 (x87) and 1 (SSE) are in the legacy region. */
struct emu_xsave_layout {
	uint64_t supported; /* components the guest may enable in XCR0 */
	uint32_t offset[EMU_XSAVE_MAX_COMPONENTS], size[EMU_XSAVE_MAX_COMPONENTS];
};

struct emu_regs {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
};

struct emu_env {
	void *opaque;
	/* Access guest memory at a linear address; 0 or -EFAULT. */
	int (*read)(void *opaque, uint64_t la, void *buf, unsigned len);
	int (*write)(void *opaque, uint64_t la, const void *buf, unsigned len);
	/* SSE control/status register, for ldmxcsr/stmxcsr; 0 or -errno. */
	int (*get_mxcsr)(void *opaque, uint32_t *mxcsr);
	int (*set_mxcsr)(void *opaque, uint32_t mxcsr);
	/* The vCPU's XSAVE area in KVM's (standard, non-compacted) layout, for xsave/xrstor; and its
	 * extended control registers, for xgetbv/xsetbv/xsave. 0 or -errno; -EINVAL from set_xsave
	 * or set_xcr means the guest gave a value the CPU refuses (#GP). */
	int (*get_xsave)(void *opaque, uint8_t buf[EMU_XSAVE_SIZE]);
	int (*set_xsave)(void *opaque, const uint8_t buf[EMU_XSAVE_SIZE]);
	int (*get_xcr)(void *opaque, uint32_t index, uint64_t *value);
	int (*set_xcr)(void *opaque, uint32_t index, uint64_t value);
	const struct emu_xsave_layout *xsave_layout;
	uint64_t fs_base, gs_base;
	bool long_mode;   /* CS.L: 64-bit code */
	bool cs_db;       /* CS.D: 32-bit default operand size outside long mode */
	unsigned cpl;
};

enum emu_status {
	EMU_DONE,         /* registers/memory updated, RIP advanced */
	EMU_EXCEPTION,    /* RIP advanced (if a trap); inject `vector` */
	EMU_UNSUPPORTED,  /* petrel does not know this instruction */
	EMU_FAULT,        /* a memory operand could not be accessed */
};

struct emu_result {
	enum emu_status status;
	unsigned vector;
	bool has_error_code;
	uint32_t error_code;
	uint64_t cr2;     /* the faulting address, with vector 14 (#PF) */
	const char *name; /* mnemonic, for statistics */
	unsigned len;     /* instruction length */
};

#define EMU_MAX_INSN 15

/* The memory callbacks' answer for a page that is present but not writable (a #PF with P=1);
 * -EFAULT is a page that is not present. Used by the instructions that raise #PF themselves. */
#define EMU_EPROT EACCES

/* Guest memory access page by page, so that a fault names the page that faulted: false with
 * res set to #PF (CR2 = that page's first byte accessed) or EMU_FAULT (not a guest page fault). */
bool emu_access(const struct emu_env *env, uint64_t la, void *buf, unsigned len, bool write,
		struct emu_result *res);

/* emulate_xsave.c, called by emu_step once it has decoded the instruction:
 * xsave/xsaveopt/xrstor (0F AE /4 /6 /5, memory operand at linear address la) ... */
void emu_xsave_op(const struct emu_env *env, struct emu_regs *r, unsigned ext, uint64_t la,
		  struct emu_result *res);
/* ... and xgetbv/xsetbv (0F 01 D0/D1). */
void emu_xcr(const struct emu_env *env, struct emu_regs *r, bool set, struct emu_result *res);

/* Emulate one instruction whose bytes are code[0..avail). */
void emu_step(const struct emu_env *env, struct emu_regs *r, const uint8_t *code, unsigned avail,
	      struct emu_result *res);

#endif
