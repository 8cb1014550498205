/* A small x86 instruction emulator for what the host's KVM refuses to run in guest ring 0
 * (on PVM hosts: int3, clac/stac, popcnt, fwait, ldmxcsr, ...). Pure logic over a register file and
 * memory callbacks, so it can be unit-tested and fuzzed without KVM. */
#ifndef PETREL_ARCH_X86_EMULATE_H
#define PETREL_ARCH_X86_EMULATE_H

#include <stdbool.h>
#include <stdint.h>

enum { EMU_RAX, EMU_RCX, EMU_RDX, EMU_RBX, EMU_RSP, EMU_RBP, EMU_RSI, EMU_RDI,
       EMU_R8, EMU_R9, EMU_R10, EMU_R11, EMU_R12, EMU_R13, EMU_R14, EMU_R15 };

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
	const char *name; /* mnemonic, for statistics */
	unsigned len;     /* instruction length */
};

#define EMU_MAX_INSN 15

/* Emulate one instruction whose bytes are code[0..avail). */
void emu_step(const struct emu_env *env, struct emu_regs *r, const uint8_t *code, unsigned avail,
	      struct emu_result *res);

#endif
