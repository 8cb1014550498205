/* Unit tests for src/arch/x86/emulate.c, the instruction emulator used on PVM hosts: decoding
 * (int3, fwait, pause, clac/stac, what is not claimed, prefixes and the 15-byte limit, every
 * truncation of a valid instruction). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "unit.h"
#include "emulate_fake.h"

/* ---- simple instructions ---- */

TEST(int3_is_a_trap)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before = r;
	struct emu_result res;
	STEP(&e, &r, &res, 0xcc);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.vector, 3);
	CHECK_EQ(res.len, 1);
	CHECK_STR_EQ(res.name, "int3");
	CHECK_EQ_HEX(r.rip, before.rip + 1);
	CHECK(memcmp(r.gpr, before.gpr, sizeof(r.gpr)) == 0);
	CHECK_EQ_HEX(r.rflags, before.rflags);
}

TEST(fwait_and_pause)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	STEP(&e, &r, &res, 0x9b);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "fwait");
	CHECK_EQ_HEX(r.rip, 0x1001);

	r = regs_init();
	STEP(&e, &r, &res, 0xf3, 0x90);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "pause");
	CHECK_EQ(res.len, 2);
	CHECK_EQ_HEX(r.rip, 0x1002);

	/* A plain nop is not something the emulator claims. */
	r = regs_init();
	CHECK_UNSUPPORTED(&e, &r, 0x90);
	CHECK_EQ_HEX(r.rip, 0x1000);
}

TEST(pause_with_rex_b_is_xchg_not_pause)
{
	/* F3 41 90 is "xchg eax, r8d" with an ignored rep prefix, not pause: claiming it as
	 * pause would silently drop the exchange. */
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before = r;
	struct emu_result res;
	STEP(&e, &r, &res, 0xf3, 0x41, 0x90);
	if (res.status == EMU_DONE) {
		CHECK_EQ_HEX(r.gpr[EMU_RAX], (uint32_t)before.gpr[EMU_R8]);
		CHECK_EQ_HEX(r.gpr[EMU_R8], (uint32_t)before.gpr[EMU_RAX]);
	} else {
		CHECK_EQ(res.status, EMU_UNSUPPORTED);
		CHECK_EQ_HEX(r.rip, before.rip);
	}
}

TEST(clac_stac_at_cpl0)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.rflags = 0x2 | AC | CF | ZF;
	STEP(&e, &r, &res, 0x0f, 0x01, 0xca);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "clac");
	CHECK_EQ(res.len, 3);
	CHECK_EQ_HEX(r.rflags, 0x2 | CF | ZF);
	CHECK_EQ_HEX(r.rip, 0x1003);

	STEP(&e, &r, &res, 0x0f, 0x01, 0xcb);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "stac");
	CHECK_EQ_HEX(r.rflags, 0x2 | CF | ZF | AC);
	CHECK_EQ_HEX(r.rip, 0x1006);
}

TEST(clac_stac_at_cpl3_unsupported)
{
	struct emu_env e = env64();
	e.cpl = 3;
	struct emu_regs r = regs_init();
	r.rflags = 0x2 | AC;
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0x01, 0xca);
	CHECK_EQ_HEX(r.rflags, 0x2 | AC);
	CHECK_EQ_HEX(r.rip, 0x1000);
	r.rflags = 0x2;
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0x01, 0xcb);
	CHECK_EQ_HEX(r.rflags, 0x2);
	/* Other 0F 01 forms (e.g. vmcall 0F 01 C1) are not emulated. */
	e.cpl = 0;
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0x01, 0xc1);
	CHECK_EQ_HEX(r.rip, 0x1000);
}

TEST(unknown_opcodes_unsupported)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before = r;
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0xb8, 0xc1);        /* no F3: jmpe / not popcnt */
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x0f, 0xbe, 0xc1);  /* F3 0F BE: movsx, not ours */
	CHECK_UNSUPPORTED(&e, &r, 0xf0, 0xf3, 0x0f, 0xb8, 0xc1); /* lock popcnt: #UD on hardware */
	CHECK_UNSUPPORTED(&e, &r, 0xf4);                    /* hlt */
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	CHECK_EQ(F.reads, 0);
	CHECK_EQ(F.writes, 0);
}

TEST(empty_and_overlong_input)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before = r;
	struct emu_result res;
	step(&e, &r, NULL, 0, &res);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);

	/* 14 prefixes + int3 = 15 bytes: legal. 15 prefixes + int3 = 16: too long. */
	uint8_t code[20];
	memset(code, 0x2e, sizeof(code));
	code[14] = 0xcc;
	step(&e, &r, code, 15, &res);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.len, 15);
	CHECK_EQ_HEX(r.rip, before.rip + 15);

	r = before;
	memset(code, 0x2e, sizeof(code));
	code[15] = 0xcc;
	step(&e, &r, code, 16, &res);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	CHECK_EQ_HEX(r.rip, before.rip);

	/* Only prefixes. */
	step(&e, &r, code, 10, &res);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
}

/* ---- truncated instructions: every prefix of a valid instruction is unsupported ---- */

TEST(truncated_instructions)
{
	static const struct { uint8_t b[15]; unsigned n; } insns[] = {
		{ { 0xf3, 0x90 }, 2 },
		{ { 0x0f, 0x01, 0xca }, 3 },
		{ { 0x0f, 0x01, 0xcb }, 3 },
		{ { 0xf3, 0x0f, 0xb8, 0xc1 }, 4 },
		{ { 0x66, 0xf3, 0x48, 0x0f, 0xbd, 0xc1 }, 6 },
		{ { 0xf3, 0x0f, 0xb8, 0x03 }, 4 },
		{ { 0xf3, 0x0f, 0xb8, 0x43, 0x10 }, 5 },
		{ { 0xf3, 0x0f, 0xb8, 0x83, 0x00, 0x01, 0x00, 0x00 }, 8 },
		{ { 0xf3, 0x0f, 0xb8, 0x04, 0x24 }, 5 },
		{ { 0xf3, 0x0f, 0xb8, 0x44, 0x24, 0x08 }, 6 },
		{ { 0xf3, 0x0f, 0xb8, 0x84, 0x24, 0x00, 0x01, 0x00, 0x00 }, 9 },
		{ { 0xf3, 0x0f, 0xb8, 0x04, 0x25, 0x00, 0x01, 0x40, 0x00 }, 9 },
		{ { 0xf3, 0x0f, 0xb8, 0x05, 0x00, 0x01, 0x00, 0x00 }, 8 },
		{ { 0x65, 0xf3, 0x4d, 0x0f, 0xbc, 0x84, 0x8b, 0x00, 0x01, 0x00, 0x00 }, 11 },
	};
	for (size_t i = 0; i < sizeof(insns) / sizeof(insns[0]); i++) {
		for (unsigned n = 0; n <= insns[i].n; n++) {
			struct emu_env e = env64();
			struct emu_regs r = regs_init(), before;
			r.gpr[EMU_RBX] = r.gpr[EMU_RSP] = MEM_BASE + 0x100;
			r.gpr[EMU_R11] = MEM_BASE;
			r.gpr[EMU_RCX] = 0;
			r.rip = MEM_BASE;
			before = r;
			struct emu_result res;
			step(&e, &r, insns[i].b, n, &res);
			if (n < insns[i].n) {
				if (res.status != EMU_UNSUPPORTED || memcmp(&r, &before, sizeof(r)) ||
				    F.reads) {
					UNIT_FAIL_("insn %zu truncated to %u/%u bytes: status %d, reads %u",
						   i, n, insns[i].n, res.status, F.reads);
				}
			} else {
				if (res.status != EMU_DONE || res.len != n || r.rip != before.rip + n)
					UNIT_FAIL_("insn %zu complete (%u bytes): status %d len %u",
						   i, n, res.status, res.len);
			}
		}
	}
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
