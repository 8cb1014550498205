/* Unit tests for the BMI1/BMI2 instructions of src/arch/x86/emulate.c (emulate_bmi.c): the
 * shlx a Debian kernel's zstd ran in ring 0 on a PVM host, each instruction's operands, flags
 * and destinations, memory operands, the forms a CPU refuses, and random operands checked
 * against this machine's own BMI instructions when it has them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "unit.h"
#include "emulate_fake.h"

enum { NP, P66, PF3, PF2 };

/* A three-byte VEX instruction: map (2 = 0F38, 3 = 0F3A), W, pp, opcode, ModRM.reg, vvvv and
 * ModRM.rm (a register, or [rm] with mem); then imm8 when imm >= 0. Its length. */
static unsigned vex(uint8_t *c, unsigned map, unsigned w, unsigned pp, uint8_t op, unsigned reg,
		    unsigned vvvv, unsigned rm, bool mem, int imm)
{
	unsigned n = 0;
	c[n++] = 0xc4;
	c[n++] = (uint8_t)((reg & 8 ? 0 : 0x80) | 0x40 | (rm & 8 ? 0 : 0x20) | map);
	c[n++] = (uint8_t)(w << 7 | ((~vvvv & 15) << 3) | pp);
	c[n++] = op;
	c[n++] = (uint8_t)((mem ? 0x00 : 0xc0) | (reg & 7) << 3 | (rm & 7));
	if (imm >= 0)
		c[n++] = (uint8_t)imm;
	return n;
}

static void run(struct emu_regs *r, const uint8_t *c, unsigned n, struct emu_result *res)
{
	struct emu_env e = env64();
	step(&e, r, c, n, res);
}

TEST(shlx_the_instruction_zstd_ran)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_R9] = 0xffffffff00000003ull;
	r.gpr[EMU_RDX] = 36;                       /* the count is masked to 5 bits: 4 */
	STEP(&e, &r, &res, 0xc4, 0x42, 0x69, 0xf7, 0xc9); /* shlx r9d, r9d, edx */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "shlx");
	CHECK_EQ(res.len, 5);
	CHECK_EQ_HEX(r.gpr[EMU_R9], 0x30);         /* 32-bit result, zero-extended */
	CHECK_EQ_HEX(r.rip, 0x1005);
	CHECK_EQ_HEX(r.rflags, 0x2);               /* no flags */
}

TEST(each_instruction)
{
	struct { unsigned map, w, pp; uint8_t op; unsigned reg; int imm; uint64_t rm, v, rdx; const char *name;
		 unsigned dst; uint64_t want, lo, flags; } t[] = {
		{ 2, 1, NP, 0xf2, 0, -1, 0xff00, 0x0f0f, 0, "andn", EMU_RAX, 0xf000, 0, 0 },
		{ 2, 0, NP, 0xf2, 0, -1, 0xf0, 0xff, 0, "andn", EMU_RAX, 0, 0, ZF },
		{ 2, 1, NP, 0xf3, 1, -1, 0b1100, 0, 0, "blsr", EMU_RBX, 0b1000, 0, 0 },
		{ 2, 1, NP, 0xf3, 1, -1, 0, 0, 0, "blsr", EMU_RBX, 0, 0, ZF | CF },
		{ 2, 1, NP, 0xf3, 2, -1, 0b1100, 0, 0, "blsmsk", EMU_RBX, 0b0111, 0, 0 },
		{ 2, 0, NP, 0xf3, 3, -1, 0b1100, 0, 0, "blsi", EMU_RBX, 0b0100, 0, CF },
		{ 2, 1, NP, 0xf5, 0, -1, ~0ull, 12, 0, "bzhi", EMU_RAX, 0xfff, 0, 0 },
		{ 2, 1, NP, 0xf5, 0, -1, ~0ull, 64, 0, "bzhi", EMU_RAX, ~0ull, 0, CF | SF },
		{ 2, 1, PF2, 0xf5, 0, -1, 0xf0f0, 0b1011, 0, "pdep", EMU_RAX, 0xb0, 0, 0 },
		{ 2, 1, PF3, 0xf5, 0, -1, 0xff00, 0xab00, 0, "pext", EMU_RAX, 0xab, 0, 0 },
		{ 2, 1, PF2, 0xf6, 0, -1, 1ull << 63, 0, 6, "mulx", EMU_RAX, 3, 0, 0 },
		{ 2, 0, PF2, 0xf6, 0, -1, 0x80000000, 0, 6, "mulx", EMU_RAX, 3, 0, 0 },
		{ 2, 1, NP, 0xf7, 0, -1, 0xabcd, 0x0804, 0, "bextr", EMU_RAX, 0xbc, 0, 0 },
		{ 2, 1, PF3, 0xf7, 0, -1, 1ull << 63, 4, 0, "sarx", EMU_RAX, 0xf8ull << 56, 0, 0 },
		{ 2, 0, PF3, 0xf7, 0, -1, 0x80000000, 4, 0, "sarx", EMU_RAX, 0xf8000000, 0, 0 },
		{ 2, 1, PF2, 0xf7, 0, -1, 1ull << 63, 67, 0, "shrx", EMU_RAX, 1ull << 60, 0, 0 },
		{ 3, 1, PF2, 0xf0, 0, 4, 0x1234, 0, 0, "rorx", EMU_RAX, 0x4000000000000123ull, 0, 0 },
		{ 3, 0, PF2, 0xf0, 0, 36, 0x1234, 0, 0, "rorx", EMU_RAX, 0x40000123, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint8_t c[8];
		/* reg field: RAX (or the group's selector), vvvv RCX, rm RSI */
		unsigned n = vex(c, t[i].map, t[i].w, t[i].pp, t[i].op, t[i].reg, EMU_RCX, EMU_RSI, false, t[i].imm);
		struct emu_regs r = regs_init();
		struct emu_result res;
		r.gpr[EMU_RSI] = t[i].rm;
		r.gpr[EMU_RCX] = t[i].v;
		r.gpr[EMU_RDX] = t[i].rdx;
		r.rflags = 0x2 | ARITH;
		run(&r, c, n, &res);
		unsigned dst = t[i].op == 0xf3 ? EMU_RCX : t[i].dst;
		if (res.status != EMU_DONE || strcmp(res.name, t[i].name) || r.gpr[dst] != t[i].want || res.len != n)
			UNIT_FAIL_("row %zu (%s): status %d name %s result 0x%llx want 0x%llx", i, t[i].name, res.status,
				   res.name, (unsigned long long)r.gpr[dst], (unsigned long long)t[i].want);
		bool flags = strcmp(t[i].name, "pdep") && strcmp(t[i].name, "pext") && strcmp(t[i].name, "mulx") &&
			     strcmp(t[i].name, "rorx") && strcmp(t[i].name, "sarx") && strcmp(t[i].name, "shrx");
		uint64_t want_flags = flags ? (0x2 | t[i].flags) : (0x2 | ARITH);
		if (r.rflags != want_flags)
			UNIT_FAIL_("row %zu (%s): rflags 0x%llx want 0x%llx", i, t[i].name,
				   (unsigned long long)r.rflags, (unsigned long long)want_flags);
		if (!strcmp(t[i].name, "mulx") && r.gpr[EMU_RCX] != t[i].lo)
			UNIT_FAIL_("row %zu: mulx low half 0x%llx", i, (unsigned long long)r.gpr[EMU_RCX]);
	}
}

TEST(memory_operand_and_fault)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	uint8_t c[8];
	unsigned n = vex(c, 2, 1, PF2, 0xf7, EMU_R10, EMU_RCX, EMU_RBX, true, -1); /* shrx r10, [rbx], rcx */
	put_mem(MEM_BASE + 0x10, 0xf000000000000000ull, 8);
	r.gpr[EMU_RBX] = MEM_BASE + 0x10;
	r.gpr[EMU_RCX] = 60;
	step(&e, &r, c, n, &res);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_R10], 0xf);
	CHECK_EQ(F.reads, 1);
	CHECK_EQ(F.last_len, 8);
	CHECK_EQ(F.writes, 0);
	r.gpr[EMU_RBX] = 0x10; /* not guest memory */
	uint64_t rip = r.rip;
	step(&e, &r, c, n, &res);
	CHECK_EQ(res.status, EMU_FAULT);
	CHECK_EQ_HEX(r.rip, rip);
}

TEST(forms_a_cpu_refuses)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	CHECK_UNSUPPORTED(&e, &r, 0x66, 0xc4, 0x42, 0x69, 0xf7, 0xc9); /* a legacy prefix before VEX */
	CHECK_UNSUPPORTED(&e, &r, 0x41, 0xc4, 0x42, 0x69, 0xf7, 0xc9); /* REX before VEX */
	CHECK_UNSUPPORTED(&e, &r, 0xc4, 0x42, 0x6d, 0xf7, 0xc9);       /* VEX.L = 1 */
	CHECK_UNSUPPORTED(&e, &r, 0xc4, 0x42, 0x68, 0xf3, 0xc1);       /* blsr group /0 */
	CHECK_UNSUPPORTED(&e, &r, 0xc4, 0x41, 0x68, 0xf7, 0xc9);       /* map 0F: no BMI there */
	CHECK_UNSUPPORTED(&e, &r, 0xc4, 0x42, 0x69, 0xf5, 0xc9);       /* 66 0F38 F5: nothing */
	CHECK_UNSUPPORTED(&e, &r, 0xc4, 0x42, 0x69, 0xf7);             /* cut short */
	e.long_mode = false;                                             /* LES outside long mode */
	CHECK_UNSUPPORTED(&e, &r, 0xc4, 0x42, 0x69, 0xf7, 0xc9);
}

/* ---- random operands against the host's own instructions ---- */

#define NATIVE(insn, out, a, b) __asm__(insn : "=&r"(out) : "r"(a), "r"(b) : "cc")

static uint64_t rnd(void)
{
	return ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
}

TEST(random_operands_match_the_cpu)
{
	if (!__builtin_cpu_supports("bmi") || !__builtin_cpu_supports("bmi2")) {
		printf("  (this CPU has no BMI1/BMI2: skipped the comparison)\n");
		return;
	}
	srand(53);
	for (int i = 0; i < 20000; i++) {
		uint64_t a = rnd(), b = rnd(), want = 0;
		if (i & 1)
			b &= 0xffff; /* counts and start/length pairs in range too */
		unsigned k = (unsigned)i / 2 % 8;
		uint8_t c[8];
		unsigned n;
		switch (k) {  /* dst rax, rm rsi = a, vvvv rcx = b */
		case 0: n = vex(c, 2, 1, NP, 0xf2, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("andn %2, %1, %0", want, b, a); break;
		case 1: n = vex(c, 2, 1, NP, 0xf5, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("bzhi %2, %1, %0", want, a, b); break;
		case 2: n = vex(c, 2, 1, PF2, 0xf5, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("pdep %1, %2, %0", want, a, b); break;
		case 3: n = vex(c, 2, 1, PF3, 0xf5, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("pext %1, %2, %0", want, a, b); break;
		case 4: n = vex(c, 2, 1, NP, 0xf7, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("bextr %2, %1, %0", want, a, b); break;
		case 5: n = vex(c, 2, 1, P66, 0xf7, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("shlx %2, %1, %0", want, a, b); break;
		case 6: n = vex(c, 2, 1, PF3, 0xf7, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("sarx %2, %1, %0", want, a, b); break;
		default: n = vex(c, 2, 1, PF2, 0xf7, EMU_RAX, EMU_RCX, EMU_RSI, false, -1); NATIVE("shrx %2, %1, %0", want, a, b); break;
		}
		struct emu_regs r = regs_init();
		struct emu_result res;
		r.gpr[EMU_RSI] = a;
		r.gpr[EMU_RCX] = b;
		run(&r, c, n, &res);
		if (res.status != EMU_DONE || r.gpr[EMU_RAX] != want) {
			UNIT_FAIL_("%s a=0x%llx b=0x%llx: 0x%llx, the CPU 0x%llx", res.name, (unsigned long long)a,
				   (unsigned long long)b, (unsigned long long)r.gpr[EMU_RAX], (unsigned long long)want);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
