/* The BMI1/BMI2 general-purpose instructions (VEX-encoded, maps 0F38 and 0F3A) as pure
 * arithmetic: emulate.c decodes the instruction and its operands, this computes the result.
 * PVM's ring-0 emulator cannot run any VEX instruction, and PVM shows the guest the host's
 * BMI2 bit whatever petrel's CPUID says, so Linux code that dispatches on it at run time (the
 * kernel's zstd, which unpacks Debian's initramfs) runs them in ring 0. */
#ifndef PETREL_ARCH_X86_EMULATE_BMI_H
#define PETREL_ARCH_X86_EMULATE_BMI_H

#include <stdbool.h>
#include <stdint.h>

struct emu_bmi {
	/* in: the instruction */
	uint8_t map;      /* VEX.mmmmm: 2 = 0F38, 3 = 0F3A */
	uint8_t op;       /* the opcode byte */
	uint8_t pp;       /* VEX.pp: 0 none, 1 66, 2 F3, 3 F2 */
	uint8_t ext;      /* ModRM.reg & 7 (the BLS* group's selector) */
	unsigned bits;    /* 32 or 64 (VEX.W) */
	uint8_t imm;      /* rorx's count */
	/* in: the operands (already masked to bits) */
	uint64_t rm;      /* ModRM.rm: register or memory */
	uint64_t vvvv;    /* the register VEX.vvvv names */
	uint64_t rdx;     /* mulx's implicit source */
	/* out */
	const char *name;
	bool to_vvvv;     /* the result goes to VEX.vvvv's register (BLSR/BLSMSK/BLSI) ... */
	uint64_t dst;     /* ... else to ModRM.reg's */
	bool has_lo;      /* mulx: the low half to VEX.vvvv's register, written before dst */
	uint64_t lo;
	bool sets_flags;  /* the arithmetic flags become `flags` (AF and PF cleared) */
	uint64_t flags;
};

/* Does the instruction exist (map, op, pp, ext)? For rorx the caller reads an imm8. */
bool emu_bmi_known(uint8_t map, uint8_t op, uint8_t pp, uint8_t ext);
bool emu_bmi_has_imm(uint8_t map, uint8_t op);
/* Compute it (emu_bmi_known was true). */
void emu_bmi_compute(struct emu_bmi *b);

#endif
