/* Unit tests for src/arch/x86/emulate.c: memory operands (ModRM, SIB, RIP-relative, segment
 * and address-size prefixes, faults) and addressing outside long mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "unit.h"
#include "emulate_fake.h"

/* ---- memory operands ---- */

/* Run `code` (popcnt/tzcnt/lzcnt with a memory operand that should resolve to `la`),
 * with 0x0f0f0f0f0f0f0f0f at la, and check the linear address, size and result. */
static void check_mem(const struct emu_env *e, struct emu_regs *r, const uint8_t *code, unsigned n,
		      uint64_t la, unsigned size, unsigned dst, uint64_t want, int line)
{
	uint64_t rip0 = r->rip;
	memset(F.mem, 0, sizeof(F.mem));
	if (la >= MEM_BASE && la + 8 <= MEM_BASE + MEM_SIZE)
		put_mem(la, 0x0f0f0f0f0f0f0f0full, 8);
	F.reads = 0;
	struct emu_result res;
	step(e, r, code, n, &res);
	if (res.status != EMU_DONE || F.reads != 1 || F.last_la != la || F.last_len != size ||
	    r->gpr[dst] != want || r->rip != rip0 + n || res.len != n) {
		UNIT_FAIL_("line %d: status %d reads %u la 0x%llx (want 0x%llx) len %u (want %u) result 0x%llx (want 0x%llx) rip +%lld (want +%u)",
			   line, res.status, F.reads, (unsigned long long)F.last_la,
			   (unsigned long long)la, F.last_len, size, (unsigned long long)r->gpr[dst],
			   (unsigned long long)want, (long long)(r->rip - rip0), n);
	}
	CHECK_EQ(F.writes, 0);
}

#define CHECK_MEM(e, r, la, size, dst, want, ...)                                            \
	do {                                                                                 \
		static const uint8_t c_[] = { __VA_ARGS__ };                                 \
		check_mem((e), (r), c_, sizeof(c_), (la), (size), (dst), (want), __LINE__);  \
	} while (0)

TEST(memory_operand_forms)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
#define B (MEM_BASE + 0x800)

	r.gpr[EMU_RBX] = B;
	CHECK_MEM(&e, &r, B, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x03);              /* [rbx] */
	CHECK_MEM(&e, &r, B + 0x10, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x43, 0x10); /* [rbx+0x10] */
	CHECK_MEM(&e, &r, B - 0x10, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x43, 0xf0); /* [rbx-0x10] */
	CHECK_MEM(&e, &r, B + 0x234, 8, EMU_RAX, 32,
		  0xf3, 0x48, 0x0f, 0xb8, 0x83, 0x34, 0x02, 0x00, 0x00);            /* [rbx+disp32] */
	CHECK_MEM(&e, &r, B - 0x200, 2, EMU_RAX, (r.gpr[EMU_RAX] & ~0xffffull) | 8,
		  0x66, 0xf3, 0x0f, 0xb8, 0x83, 0x00, 0xfe, 0xff, 0xff);            /* [rbx-0x200] */

	/* SIB: [rbx + rsi*4 + 8] */
	r.gpr[EMU_RSI] = 0x20;
	CHECK_MEM(&e, &r, B + 0x88, 4, EMU_RCX, 16, 0xf3, 0x0f, 0xb8, 0x4c, 0xb3, 0x08);
	/* SIB all scales: [rbx + rsi*2^s] */
	for (unsigned s = 0; s < 4; s++) {
		uint8_t code[] = { 0xf3, 0x0f, 0xb8, 0x04, (uint8_t)(s << 6 | 6 << 3 | 3) };
		check_mem(&e, &r, code, sizeof(code), B + (0x20ull << s), 4, EMU_RAX, 16, __LINE__);
	}
	/* SIB, no index (index=4): [rsp] and [rsp+8] */
	r.gpr[EMU_RSP] = B + 0x40;
	CHECK_MEM(&e, &r, B + 0x40, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x04, 0x24);
	CHECK_MEM(&e, &r, B + 0x48, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x44, 0x24, 0x08);
	/* SIB, no base (mod=0, base=5): [rsi*8 + disp32] */
	r.gpr[EMU_RSI] = 0x10;
	CHECK_MEM(&e, &r, B + 0x80, 4, EMU_RAX, 16,
		  0xf3, 0x0f, 0xb8, 0x04, 0xf5, (uint8_t)B, (uint8_t)(B >> 8), (uint8_t)(B >> 16), 0x00);
	/* SIB, base=rbp with mod=1: [rbp + rsi + 4] (base 5 is a register when mod != 0) */
	r.gpr[EMU_RBP] = B;
	CHECK_MEM(&e, &r, B + 0x14, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x44, 0x35, 0x04);
	/* [rbp+0] needs mod=1 */
	CHECK_MEM(&e, &r, B, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x45, 0x00);

	/* REX.X: index r9; REX.B: base r12 (needs SIB), r13 (mod=0 means no base) */
	r.gpr[EMU_R9] = 0x30;
	CHECK_MEM(&e, &r, B + 0x30, 4, EMU_RAX, 16, 0xf3, 0x42, 0x0f, 0xb8, 0x04, 0x0b); /* [rbx+r9] */
	r.gpr[EMU_R12] = B + 0x100;
	CHECK_MEM(&e, &r, B + 0x100, 4, EMU_RAX, 16, 0xf3, 0x41, 0x0f, 0xb8, 0x04, 0x24); /* [r12] */
	/* index r12 is a real index (only index 4 without REX.X means "none") */
	r.gpr[EMU_R12] = 0x8;
	CHECK_MEM(&e, &r, B + 0x8, 4, EMU_RAX, 16, 0xf3, 0x42, 0x0f, 0xb8, 0x04, 0x23); /* [rbx+r12] */
	r.gpr[EMU_R13] = B + 0x200;
	CHECK_MEM(&e, &r, B + 0x200 + 0x7f, 4, EMU_RAX, 16, 0xf3, 0x41, 0x0f, 0xb8, 0x45, 0x7f); /* [r13+0x7f] */
	CHECK_MEM(&e, &r, B + 0x10, 4, EMU_RAX, 16, 0xf3, 0x41, 0x0f, 0xb8, 0x04, 0x25,
		  (uint8_t)(B + 0x10), (uint8_t)((B + 0x10) >> 8), (uint8_t)((B + 0x10) >> 16), 0x00); /* [disp32] */
	r.gpr[EMU_R11] = B + 0x300;
	CHECK_MEM(&e, &r, B + 0x300, 8, EMU_R10, 32, 0xf3, 0x4d, 0x0f, 0xb8, 0x13); /* popcnt r10, [r11] */
	/* base r13 + index r14*2 + disp8 */
	r.gpr[EMU_R14] = 0x10;
	CHECK_MEM(&e, &r, B + 0x200 + 0x20 + 1, 4, EMU_RAX, 16, 0xf3, 0x43, 0x0f, 0xb8, 0x44, 0x75, 0x01);
#undef B
}

TEST(memory_rip_relative)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	/* popcnt eax, [rip + 0x100]: relative to the end of the instruction */
	r.rip = MEM_BASE + 0x200;
	CHECK_MEM(&e, &r, MEM_BASE + 0x200 + 8 + 0x100, 4, EMU_RAX, 16,
		  0xf3, 0x0f, 0xb8, 0x05, 0x00, 0x01, 0x00, 0x00);
	/* negative displacement and a REX prefix (r13 with mod=0 is also RIP-relative) */
	r.rip = MEM_BASE + 0x800;
	CHECK_MEM(&e, &r, MEM_BASE + 0x800 + 9 - 0x10, 8, EMU_RAX, 32,
		  0xf3, 0x49, 0x0f, 0xb8, 0x05, 0xf0, 0xff, 0xff, 0xff);
	/* with a 16-bit operand (one more prefix byte) */
	r.rip = MEM_BASE + 0x400;
	CHECK_MEM(&e, &r, MEM_BASE + 0x400 + 9 + 4, 2, EMU_RAX, (r.gpr[EMU_RAX] & ~0xffffull) | 8,
		  0x66, 0xf3, 0x0f, 0xb8, 0x05, 0x04, 0x00, 0x00, 0x00);
}

TEST(memory_segment_prefixes)
{
	struct emu_env e = env64();
	e.fs_base = MEM_BASE + 0x1000;
	e.gs_base = MEM_BASE + 0x2000;
	struct emu_regs r = regs_init();
	r.gpr[EMU_RBX] = 0x10;
	CHECK_MEM(&e, &r, MEM_BASE + 0x1010, 4, EMU_RAX, 16, 0x64, 0xf3, 0x0f, 0xb8, 0x03); /* fs:[rbx] */
	CHECK_MEM(&e, &r, MEM_BASE + 0x2010, 4, EMU_RAX, 16, 0x65, 0xf3, 0x0f, 0xb8, 0x03); /* gs:[rbx] */
	CHECK_MEM(&e, &r, MEM_BASE + 0x2010, 8, EMU_RAX, 32, 0xf3, 0x65, 0x48, 0x0f, 0xb8, 0x03);
	/* cs/ds/es/ss overrides are ignored in long mode */
	r.gpr[EMU_RBX] = MEM_BASE + 0x10;
	CHECK_MEM(&e, &r, MEM_BASE + 0x10, 4, EMU_RAX, 16, 0x3e, 0xf3, 0x0f, 0xb8, 0x03);
	CHECK_MEM(&e, &r, MEM_BASE + 0x10, 4, EMU_RAX, 16, 0x26, 0xf3, 0x0f, 0xb8, 0x03);
	/* gs: with RIP-relative */
	r.rip = 0x100;
	CHECK_MEM(&e, &r, MEM_BASE + 0x2000 + 0x100 + 9 + 0x20, 4, EMU_RAX, 16,
		  0x65, 0xf3, 0x0f, 0xb8, 0x05, 0x20, 0x00, 0x00, 0x00);
}

TEST(memory_addr32_prefix_truncates)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	r.gpr[EMU_RBX] = 0xffffffff00000000ull | (MEM_BASE + 0x40);
	CHECK_MEM(&e, &r, MEM_BASE + 0x40, 4, EMU_RAX, 16, 0x67, 0xf3, 0x0f, 0xb8, 0x03); /* [ebx] */
	/* without 0x67 the full 64-bit address is used (and faults here) */
	struct emu_result res;
	uint64_t rip = r.rip;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0x03);
	CHECK_EQ(res.status, EMU_FAULT);
	CHECK_EQ_HEX(F.last_la, 0xffffffff00000000ull | (MEM_BASE + 0x40));
	CHECK_EQ_HEX(r.rip, rip);
}

TEST(memory_fault)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before;
	struct emu_result res;
	r.gpr[EMU_RBX] = MEM_BASE;
	r.rflags = 0x2 | ZF | CF;
	before = r;
	F.fail = true;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0x03);
	CHECK_EQ(res.status, EMU_FAULT);
	CHECK_EQ(F.reads, 1);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0); /* nothing changed, RIP not advanced */
	STEP(&e, &r, &res, 0xf3, 0x48, 0x0f, 0xbc, 0x43, 0x08);
	CHECK_EQ(res.status, EMU_FAULT);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	/* a register form does not touch memory, so it works even then */
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0xc3);
	CHECK_EQ(res.status, EMU_DONE);
}

/* ---- outside long mode ---- */

TEST(protected_mode_32bit)
{
	struct emu_env e = env64();
	e.long_mode = false;
	e.cs_db = true;
	struct emu_regs r = regs_init();
	struct emu_result res;
	/* 0x48 is "dec eax" in 32-bit code, not REX.W: not ours */
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x48, 0x0f, 0xb8, 0xc1);
	CHECK_EQ_HEX(r.rip, 0x1000);
	/* register form */
	r.gpr[EMU_RCX] = 0xff;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0xc1);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ((uint32_t)r.gpr[EMU_RAX], 8);
	/* [ebx] with garbage above bit 31 and [disp32] (no RIP-relative outside long mode) */
	r.gpr[EMU_RBX] = 0xdead000000000000ull | (MEM_BASE + 0x20);
	CHECK_MEM(&e, &r, MEM_BASE + 0x20, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x03);
	CHECK_MEM(&e, &r, MEM_BASE + 0x30, 4, EMU_RAX, 16, 0xf3, 0x0f, 0xb8, 0x05,
		  0x30, (uint8_t)(MEM_BASE >> 8), (uint8_t)(MEM_BASE >> 16), 0x00);
	/* fs: */
	e.fs_base = MEM_BASE + 0x1000;
	r.gpr[EMU_RBX] = 0x20;
	CHECK_MEM(&e, &r, MEM_BASE + 0x1020, 4, EMU_RAX, 16, 0x64, 0xf3, 0x0f, 0xb8, 0x03);
}

TEST(protected_mode_addr16_unsupported)
{
	/* In 32-bit code, 0x67 selects 16-bit addressing ([bx+si] etc.), a different ModRM
	 * table: it must not be decoded as 32-bit addressing. */
	struct emu_env e = env64();
	e.long_mode = false;
	e.cs_db = true;
	struct emu_regs r = regs_init(), before;
	r.gpr[EMU_RBX] = MEM_BASE + 0x20;
	before = r;
	struct emu_result res;
	STEP(&e, &r, &res, 0x67, 0xf3, 0x0f, 0xb8, 0x07); /* popcnt eax, [bx] */
	if (res.status == EMU_DONE)
		CHECK_EQ_HEX(F.last_la, (uint16_t)r.gpr[EMU_RBX]);
	else {
		CHECK_EQ(res.status, EMU_UNSUPPORTED);
		CHECK(memcmp(&r, &before, sizeof(r)) == 0);
	}
	/* 16-bit code without 0x67 is 16-bit addressing too */
	e.cs_db = false;
	CHECK_UNSUPPORTED(&e, &r, 0xf3, 0x0f, 0xb8, 0x07);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
}

TEST(real_mode_16bit_operand_size)
{
	/* In 16-bit code the default operand size is 16 bits and 0x66 selects 32. */
	struct emu_env e = env64();
	e.long_mode = false;
	e.cs_db = false;
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RAX] = 0xaaaa5555aaaa5555ull;
	r.gpr[EMU_RCX] = 0xffff0003;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0xc1); /* popcnt ax, cx */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX] & 0xffffffffull, 0xaaaa0002);
	r.gpr[EMU_RAX] = 0xaaaa5555aaaa5555ull;
	STEP(&e, &r, &res, 0x66, 0xf3, 0x0f, 0xb8, 0xc1); /* popcnt eax, ecx */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX] & 0xffffffffull, 18);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
