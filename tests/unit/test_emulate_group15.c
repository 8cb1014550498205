/* Unit tests for src/arch/x86/emulate.c: group 15 (0F AE), ldmxcsr/stmxcsr and the fences. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "unit.h"
#include "emulate_fake.h"

/* ---- group 15: ldmxcsr / stmxcsr / fences ---- */

static uint32_t get_mem32(uint64_t la)
{
	uint32_t v;
	memcpy(&v, F.mem + (la - MEM_BASE), 4);
	return v;
}

TEST(ldmxcsr_stmxcsr)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RBX] = MEM_BASE + 0x100;
	put_mem(MEM_BASE + 0x100, 0x9fc0, 4);
	STEP(&e, &r, &res, 0x0f, 0xae, 0x13);            /* ldmxcsr [rbx] */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "ldmxcsr");
	CHECK_EQ(res.len, 3);
	CHECK_EQ_HEX(F.mxcsr, 0x9fc0);
	CHECK_EQ(F.mxcsr_sets, 1);
	CHECK_EQ_HEX(F.last_la, MEM_BASE + 0x100);
	CHECK_EQ(F.last_len, 4);
	CHECK_EQ_HEX(r.rip, 0x1003);

	F.mxcsr = 0x1f85;
	STEP(&e, &r, &res, 0x0f, 0xae, 0x5b, 0x08);      /* stmxcsr [rbx+8] */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "stmxcsr");
	CHECK_EQ_HEX(get_mem32(MEM_BASE + 0x108), 0x1f85);
	CHECK_EQ(F.writes, 1);
	CHECK_EQ_HEX(r.rip, 0x1007);

	/* RIP-relative, with REX.W (ignored) and an extended base */
	r.rip = MEM_BASE;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x1d, 0x00, 0x02, 0x00, 0x00); /* stmxcsr [rip+0x200] */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(get_mem32(MEM_BASE + 8 + 0x200), 0x1f85);
	r.gpr[EMU_R12] = MEM_BASE + 0x300;
	put_mem(MEM_BASE + 0x300, 0x1f80, 4);
	STEP(&e, &r, &res, 0x41, 0x0f, 0xae, 0x14, 0x24); /* ldmxcsr [r12] */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(F.mxcsr, 0x1f80);
}

TEST(ldmxcsr_reserved_bits_gp)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before;
	struct emu_result res;
	r.gpr[EMU_RBX] = MEM_BASE;
	put_mem(MEM_BASE, 0x00011f80, 4);
	before = r;
	STEP(&e, &r, &res, 0x0f, 0xae, 0x13);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.vector, 13);
	CHECK(res.has_error_code);
	CHECK_EQ(res.error_code, 0);
	CHECK_EQ(F.mxcsr_sets, 0);
	CHECK_EQ_HEX(F.mxcsr, 0x1f80);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0); /* a fault: RIP stays on the instruction */
}

TEST(ldmxcsr_stmxcsr_faults_and_unsupported)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before;
	struct emu_result res;
	r.gpr[EMU_RBX] = MEM_BASE;
	before = r;
	F.fail = true;
	STEP(&e, &r, &res, 0x0f, 0xae, 0x13);
	CHECK_EQ(res.status, EMU_FAULT);
	CHECK_EQ(F.mxcsr_sets, 0);
	STEP(&e, &r, &res, 0x0f, 0xae, 0x1b);
	CHECK_EQ(res.status, EMU_FAULT);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	F.fail = false;
	F.writes = 0;

	/* without MXCSR callbacks there is nothing to emulate with */
	struct emu_env e2 = e;
	e2.get_mxcsr = NULL;
	e2.set_mxcsr = NULL;
	CHECK_UNSUPPORTED(&e2, &r, 0x0f, 0xae, 0x13);
	CHECK_UNSUPPORTED(&e2, &r, 0x0f, 0xae, 0x1b);

	/* prefixed forms and the other memory forms of group 15 are not ldmxcsr/stmxcsr */
	CHECK_UNSUPPORTED(&e, &r, 0x66, 0x0f, 0xae, 0x13);
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x0f, 0xae, 0x13);
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x0f, 0xae, 0x3b);      /* rep clflush */
	CHECK_UNSUPPORTED(&e, &r, 0xf2, 0x0f, 0xae, 0x1b);
	CHECK_UNSUPPORTED(&e, &r, 0xf0, 0x0f, 0xae, 0x13);
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0xae, 0x03);            /* fxsave */
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0xae, 0x0b);            /* fxrstor */
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0xae, 0x23);            /* xsave */
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0xae);                  /* truncated */
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0xae, 0x53);            /* truncated disp8 */
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	CHECK_EQ(F.mxcsr_sets, 0);
	CHECK_EQ(F.writes, 0);
}

TEST(fences)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before = r;
	struct emu_result res;
	static const struct { uint8_t modrm; const char *name; } f[] = {
		{ 0xe8, "lfence" }, { 0xef, "lfence" }, { 0xf0, "mfence" }, { 0xf8, "sfence" },
	};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		uint8_t code[3] = { 0x0f, 0xae, f[i].modrm };
		r = before;
		step(&e, &r, code, 3, &res);
		CHECK_EQ(res.status, EMU_DONE);
		CHECK_STR_EQ(res.name, f[i].name);
		CHECK_EQ_HEX(r.rip, before.rip + 3);
		CHECK(memcmp(r.gpr, before.gpr, sizeof(r.gpr)) == 0);
	}
	CHECK_EQ(F.reads + F.writes, 0);
	/* register forms that are other instructions: not fences */
	r = before;
	CHECK_UNSUPPORTED(&e, &r, 0xf2, 0x0f, 0xae, 0xf0);      /* umwait eax */
	CHECK_UNSUPPORTED(&e, &r, 0x66, 0x0f, 0xae, 0xf0);      /* tpause eax */
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x0f, 0xae, 0xf0);      /* clrssbsy-class / umonitor */
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x0f, 0xae, 0xe8);      /* incsspd eax */
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x48, 0x0f, 0xae, 0xc0); /* rdfsbase rax */
	CHECK_UNSUPPORTED(&e, &r, 0x0f, 0xae, 0xc0);            /* no such instruction */
	CHECK_UNSUPPORTED(&e, &r, 0xf0, 0x0f, 0xae, 0xf0);      /* lock mfence: #UD */
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
}

/* The cache line write-backs Linux's pmem DAX path issues: nothing to do but the access check,
 * a #PF (RIP on the instruction, CR2 the address) when the line is not there. */
TEST(cache_line_flushes)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RAX] = MEM_BASE + 0x40;
	STEP(&e, &r, &res, 0x66, 0x0f, 0xae, 0x30);      /* clwb [rax] */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "clwb");
	CHECK_EQ(res.len, 4);
	CHECK_EQ_HEX(r.rip, 0x1004);
	CHECK_EQ_HEX(F.last_la, MEM_BASE + 0x40);
	STEP(&e, &r, &res, 0x66, 0x0f, 0xae, 0x38);      /* clflushopt [rax] */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "clflushopt");
	STEP(&e, &r, &res, 0x0f, 0xae, 0x78, 0x10);      /* clflush [rax+0x10] */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "clflush");
	CHECK_EQ_HEX(F.last_la, MEM_BASE + 0x50);
	CHECK_EQ_HEX(r.rip, 0x100c);
	CHECK_EQ(F.writes, 0);
	CHECK_EQ_HEX(F.mem[0x40], 0);

	struct emu_regs before;
	r.gpr[EMU_RAX] = MEM_BASE + MEM_SIZE + 0x1000;  /* not mapped */
	before = r;
	STEP(&e, &r, &res, 0x66, 0x0f, 0xae, 0x30);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.vector, 14);
	CHECK_EQ_HEX(res.cr2, MEM_BASE + MEM_SIZE + 0x1000);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	/* mapped, but not RAM (a pmem device's DAX window, MMIO): flushed like the rest */
	F.err = EIO;
	STEP(&e, &r, &res, 0x66, 0x0f, 0xae, 0x30);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.rip, before.rip + 4);
	F.err = 0;
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
