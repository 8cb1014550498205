/* Unit tests for src/arch/x86/emulate.c: popcnt, tzcnt and lzcnt in every operand size and
 * register, their flags, and random operands checked against the compiler's builtins. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "unit.h"
#include "emulate_fake.h"

/* popcnt (op 0xb8), tzcnt (0xbc) or lzcnt (0xbd) of `bits` into register dst from register src,
 * or from memory at [src] when mem (src not 4 or 5 mod 8), into code; its length. */
static unsigned encode(uint8_t *code, uint8_t op, unsigned bits, unsigned dst, unsigned src, bool mem)
{
	unsigned n = 0;
	if (bits == 16)
		code[n++] = 0x66;
	code[n++] = 0xf3;
	uint8_t rex = (uint8_t)((bits == 64 ? 8 : 0) | ((dst & 8) >> 1) | (src >> 3));
	if (rex)
		code[n++] = 0x40 | rex;
	code[n++] = 0x0f;
	code[n++] = op;
	code[n++] = (uint8_t)((mem ? 0x00 : 0xc0) | (dst & 7) << 3 | (src & 7));
	return n;
}

/* ---- popcnt / tzcnt / lzcnt, register forms ---- */

TEST(popcnt_reg32_zero_extends)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RCX] = 0xffffffff000000f0ull; /* only the low 32 bits count */
	r.rflags = 0x2 | ARITH | AC;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0xc1); /* popcnt eax, ecx */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_STR_EQ(res.name, "popcnt");
	CHECK_EQ(res.len, 4);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 4);          /* upper half zeroed */
	CHECK_EQ_HEX(r.rflags, 0x2 | AC);         /* arithmetic flags cleared, others kept */
	CHECK_EQ_HEX(r.rip, 0x1004);
	CHECK_EQ(F.reads, 0);
}

TEST(popcnt_reg64_rex_w)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RDX] = 0xffffffff000000f0ull;
	STEP(&e, &r, &res, 0xf3, 0x48, 0x0f, 0xb8, 0xda); /* popcnt rbx, rdx */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ(res.len, 5);
	CHECK_EQ_HEX(r.gpr[EMU_RBX], 36);
	CHECK_EQ_HEX(r.rip, 0x1005);
}

TEST(popcnt_reg16_keeps_upper_bits)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RAX] = 0x123456789abcdef0ull;
	r.gpr[EMU_RCX] = 0xffff0107;            /* low 16 bits: 0x0107 -> 4 */
	STEP(&e, &r, &res, 0x66, 0xf3, 0x0f, 0xb8, 0xc1); /* popcnt ax, cx */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 0x123456789abc0004ull);
	CHECK_EQ_HEX(r.rip, 0x1005);
	/* The prefixes in the other order mean the same. */
	r.gpr[EMU_RAX] = 0x123456789abcdef0ull;
	STEP(&e, &r, &res, 0xf3, 0x66, 0x0f, 0xb8, 0xc1);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 0x123456789abc0004ull);
	/* REX.W wins over 66. */
	r.gpr[EMU_RCX] = 0xffffffffffffffffull;
	STEP(&e, &r, &res, 0x66, 0xf3, 0x48, 0x0f, 0xb8, 0xc1);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 64);
}

TEST(popcnt_extended_registers)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before;
	struct emu_result res;
	r.gpr[EMU_R9] = 0x7;
	r.gpr[EMU_RCX] = 0xff;
	before = r;
	STEP(&e, &r, &res, 0xf3, 0x4d, 0x0f, 0xb8, 0xc1); /* popcnt r8, r9 (REX.WRB) */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_R8], 3);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], before.gpr[EMU_RAX]);

	r = before;
	STEP(&e, &r, &res, 0xf3, 0x44, 0x0f, 0xb8, 0xf9); /* popcnt r15d, ecx (REX.R) */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_R15], 8);
	CHECK_EQ_HEX(r.gpr[EMU_RDI], before.gpr[EMU_RDI]);

	r = before;
	STEP(&e, &r, &res, 0xf3, 0x41, 0x0f, 0xb8, 0xc1); /* popcnt eax, r9d (REX.B) */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 3);
	CHECK_EQ_HEX(r.gpr[EMU_R8], before.gpr[EMU_R8]);

	/* Every register pair, 64-bit. */
	for (unsigned dst = 0; dst < 16; dst++) {
		for (unsigned src = 0; src < 16; src++) {
			struct emu_regs q;
			for (unsigned i = 0; i < 16; i++)
				q.gpr[i] = (1ull << (i + 1)) - 1; /* popcount(reg i) = i + 1 */
			q.rip = 0;
			q.rflags = 2;
			uint8_t code[8];
			step(&e, &q, code, encode(code, 0xb8, 64, dst, src, false), &res);
			CHECK_EQ(res.status, EMU_DONE);
			CHECK_EQ(q.gpr[dst], src + 1);
			for (unsigned i = 0; i < 16; i++)
				if (i != dst)
					CHECK_EQ_HEX(q.gpr[i], (1ull << (i + 1)) - 1);
		}
	}
}

TEST(popcnt_zero_sets_zf)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RCX] = 0xffffffff00000000ull; /* 32-bit source is zero */
	r.rflags = 0x2 | CF | SF | OF;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0xc1);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 0);
	CHECK_EQ_HEX(r.rflags, 0x2 | ZF);
}

TEST(tzcnt_lzcnt_edge_cases)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init();
	struct emu_result res;

	/* zero source: result = operand size, CF set, ZF clear */
	static const struct { unsigned bits; } sz[] = { { 16 }, { 32 }, { 64 } };
	for (unsigned s = 0; s < 3; s++) {
		for (int lz = 0; lz < 2; lz++) {
			uint8_t code[8];
			unsigned n = encode(code, lz ? 0xbd : 0xbc, sz[s].bits, EMU_RAX, EMU_RCX, false);
			r = regs_init();
			r.gpr[EMU_RAX] = 0xaaaaaaaaaaaaaaaaull;
			r.gpr[EMU_RCX] = sz[s].bits == 64 ? 0 : 0xffffffff00000000ull;
			if (sz[s].bits == 16)
				r.gpr[EMU_RCX] = 0xffffffffffff0000ull;
			r.rflags = 0x2 | ZF | SF;
			step(&e, &r, code, n, &res);
			CHECK_EQ(res.status, EMU_DONE);
			CHECK_STR_EQ(res.name, lz ? "lzcnt" : "tzcnt");
			uint64_t want = sz[s].bits == 16 ? 0xaaaaaaaaaaaa0000ull | 16 : sz[s].bits;
			CHECK_EQ_HEX(r.gpr[EMU_RAX], want);
			CHECK_EQ_HEX(r.rflags, 0x2 | CF);
			CHECK_EQ_HEX(r.rip, 0x1000 + n);
		}
	}

	/* result zero: ZF set, CF clear */
	r = regs_init();
	r.gpr[EMU_RCX] = 0x1;
	r.rflags = 0x2 | CF;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xbc, 0xc1); /* tzcnt eax, ecx */
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 0);
	CHECK_EQ_HEX(r.rflags, 0x2 | ZF);
	r.gpr[EMU_RCX] = 0x80000000;
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xbd, 0xc1); /* lzcnt eax, ecx */
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 0);
	CHECK_EQ_HEX(r.rflags, 0x2 | ZF);
	r.gpr[EMU_RCX] = 0x8000;
	STEP(&e, &r, &res, 0x66, 0xf3, 0x0f, 0xbd, 0xc1); /* lzcnt ax, cx */
	CHECK_EQ_HEX(r.gpr[EMU_RAX] & 0xffff, 0);
	CHECK_EQ_HEX(r.rflags, 0x2 | ZF);
	r.gpr[EMU_RCX] = 0x1;
	STEP(&e, &r, &res, 0x66, 0xf3, 0x0f, 0xbd, 0xc1); /* lzcnt ax, cx = 15 */
	CHECK_EQ_HEX(r.gpr[EMU_RAX] & 0xffff, 15);
	CHECK_EQ_HEX(r.rflags, 0x2);
	r.gpr[EMU_RCX] = 0x1;
	STEP(&e, &r, &res, 0xf3, 0x48, 0x0f, 0xbd, 0xc1); /* lzcnt rax, rcx = 63 */
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 63);
	r.gpr[EMU_RCX] = 0x8000000000000000ull;
	STEP(&e, &r, &res, 0xf3, 0x48, 0x0f, 0xbc, 0xc1); /* tzcnt rax, rcx = 63 */
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 63);
}

/* Reference results, from the compiler's builtins. */
static uint64_t ref(uint8_t op, uint64_t v, unsigned bits, uint64_t *flags)
{
	uint64_t m = bits == 64 ? ~0ull : (1ull << bits) - 1;
	v &= m;
	*flags = 0;
	if (op == 0xb8) {
		if (!v)
			*flags |= ZF;
		return (uint64_t)__builtin_popcountll(v);
	}
	if (!v) {
		*flags |= CF;
		return bits;
	}
	uint64_t n = op == 0xbc ? (uint64_t)__builtin_ctzll(v) : (uint64_t)__builtin_clzll(v) - (64 - bits);
	if (!n)
		*flags |= ZF;
	return n;
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	/* xorshift64*, with a varying number of set bits */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	uint64_t v = rnd_state * 0x2545f4914f6cdd1dull;
	switch (v & 7) {
	case 0: return v >> (v >> 58);                         /* few high zeros */
	case 1: return v << (v >> 58);                         /* trailing zeros */
	case 2: return (v >> 3) & (v >> 17) & (v >> 29);       /* sparse */
	case 3: return 1ull << (v >> 58);                      /* one bit */
	case 4: return 0;
	default: return v;
	}
}

TEST(bitcount_random_register_and_memory)
{
	static const uint8_t ops[] = { 0xb8, 0xbc, 0xbd };
	static const unsigned sizes[] = { 16, 32, 64 };
	for (int iter = 0; iter < 20000; iter++) {
		struct emu_env e = env64();
		uint8_t op = ops[iter % 3];
		unsigned bits = sizes[(iter / 3) % 3];
		bool mem = (iter / 9) & 1;
		uint64_t v = rnd(), old = rnd();
		struct emu_regs r = regs_init();
		unsigned src = (unsigned)(rnd() % 16), dst = (unsigned)(rnd() % 16);
		if (mem && (src & 7) == 4)  /* keep the memory form free of SIB */
			src ^= 1;
		if (mem && (src & 7) == 5)  /* and of RIP-relative */
			src ^= 2;
		uint8_t code[8];
		unsigned n = encode(code, op, bits, dst, src, mem);
		uint64_t la = MEM_BASE + 0x100 + (rnd() % 0x100);
		if (mem) {
			r.gpr[src] = la;
			put_mem(la, v, 8);
		} else {
			r.gpr[src] = v;
		}
		if (dst != src)
			r.gpr[dst] = old;
		else
			old = r.gpr[dst];
		uint64_t keep = (rnd() & ~ARITH) | 2;
		r.rflags = keep | (rnd() & ARITH);
		struct emu_result res;
		step(&e, &r, code, n, &res);
		uint64_t wflags;
		uint64_t want = ref(op, v, bits, &wflags);
		if (bits == 16)
			want |= old & ~0xffffull;
		if (res.status != EMU_DONE || r.gpr[dst] != want || r.rflags != (keep | wflags) ||
		    r.rip != 0x1000 + n || (mem && (F.last_len != bits / 8 || F.last_la != la))) {
			UNIT_FAIL_("op %02x bits %u %s src %u dst %u v 0x%llx: status %d got 0x%llx want 0x%llx flags 0x%llx want 0x%llx",
				   op, bits, mem ? "mem" : "reg", src, dst, (unsigned long long)v,
				   res.status, (unsigned long long)r.gpr[dst], (unsigned long long)want,
				   (unsigned long long)r.rflags, (unsigned long long)(keep | wflags));
			return;
		}
	}
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
