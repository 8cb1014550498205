/* Unit tests for src/arch/x86/emulate.c: the instruction emulator used on PVM hosts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "unit.h"

#define CF (1ull << 0)
#define PF (1ull << 2)
#define AF (1ull << 4)
#define ZF (1ull << 6)
#define SF (1ull << 7)
#define OF (1ull << 11)
#define AC (1ull << 18)
#define ARITH (CF | PF | AF | ZF | SF | OF)

/* ---- a fake guest: MEM_SIZE bytes of memory at linear address MEM_BASE ---- */

#define MEM_BASE 0x400000ull
#define MEM_SIZE 0x4000u

struct fake {
	uint8_t mem[MEM_SIZE];
	unsigned reads, writes;
	uint64_t last_la;
	unsigned last_len;
	bool fail;          /* every access faults */
	uint32_t mxcsr;
	unsigned mxcsr_gets, mxcsr_sets;
};

static int fake_get_mxcsr(void *opaque, uint32_t *v)
{
	struct fake *f = opaque;
	f->mxcsr_gets++;
	*v = f->mxcsr;
	return 0;
}

static int fake_set_mxcsr(void *opaque, uint32_t v)
{
	struct fake *f = opaque;
	f->mxcsr_sets++;
	f->mxcsr = v;
	return 0;
}

static int fake_read(void *opaque, uint64_t la, void *buf, unsigned len)
{
	struct fake *f = opaque;
	f->reads++;
	f->last_la = la;
	f->last_len = len;
	if (f->fail || la < MEM_BASE || la - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (la - MEM_BASE))
		return -EFAULT;
	memcpy(buf, f->mem + (la - MEM_BASE), len);
	return 0;
}

static int fake_write(void *opaque, uint64_t la, const void *buf, unsigned len)
{
	struct fake *f = opaque;
	f->writes++;
	if (f->fail || la < MEM_BASE || la - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (la - MEM_BASE))
		return -EFAULT;
	memcpy(f->mem + (la - MEM_BASE), buf, len);
	return 0;
}

static struct fake F;

static struct emu_env env64(void)
{
	memset(&F, 0, sizeof(F));
	F.mxcsr = 0x1f80;
	return (struct emu_env){ .opaque = &F, .read = fake_read, .write = fake_write,
				 .get_mxcsr = fake_get_mxcsr, .set_mxcsr = fake_set_mxcsr,
				 .long_mode = true, .cpl = 0 };
}

static void put_mem(uint64_t la, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		F.mem[la - MEM_BASE + i] = (uint8_t)(v >> (8 * i));
}

/* Run emu_step on an exact-size heap copy of the bytes, so an overread trips ASan. */
static void step(const struct emu_env *env, struct emu_regs *r, const uint8_t *code, unsigned n,
		 struct emu_result *res)
{
	uint8_t *copy = calloc(1, n ? n : 1);
	if (n)
		memcpy(copy, code, n);
	emu_step(env, r, copy, n, res);
	free(copy);
}

#define STEP(env, r, res, ...)                                                               \
	do {                                                                                 \
		static const uint8_t code_[] = { __VA_ARGS__ };                              \
		step((env), (r), code_, sizeof(code_), (res));                               \
	} while (0)

static struct emu_regs regs_init(void)
{
	struct emu_regs r;
	for (int i = 0; i < 16; i++)
		r.gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1); /* recognisable garbage */
	r.rip = 0x1000;
	r.rflags = 0x2;
	return r;
}

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
	STEP(&e, &r, &res, 0x90);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
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
	struct emu_result res;
	r.rflags = 0x2 | AC;
	STEP(&e, &r, &res, 0x0f, 0x01, 0xca);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	CHECK_EQ_HEX(r.rflags, 0x2 | AC);
	CHECK_EQ_HEX(r.rip, 0x1000);
	r.rflags = 0x2;
	STEP(&e, &r, &res, 0x0f, 0x01, 0xcb);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	CHECK_EQ_HEX(r.rflags, 0x2);
	/* Other 0F 01 forms (e.g. vmcall 0F 01 C1) are not emulated. */
	e.cpl = 0;
	STEP(&e, &r, &res, 0x0f, 0x01, 0xc1);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	CHECK_EQ_HEX(r.rip, 0x1000);
}

TEST(unknown_opcodes_unsupported)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_init(), before = r;
	struct emu_result res;
	STEP(&e, &r, &res, 0x0f, 0xb8, 0xc1);        /* no F3: jmpe / not popcnt */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xbe, 0xc1);  /* F3 0F BE: movsx, not ours */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf0, 0xf3, 0x0f, 0xb8, 0xc1); /* lock popcnt: #UD on hardware */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf4);                    /* hlt */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
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
			uint8_t code[5] = { 0xf3, (uint8_t)(0x48 | ((dst & 8) >> 1) | (src >> 3)), 0x0f,
					    0xb8, (uint8_t)(0xc0 | (dst & 7) << 3 | (src & 7)) };
			step(&e, &q, code, sizeof(code), &res);
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
			unsigned n = 0;
			if (sz[s].bits == 16)
				code[n++] = 0x66;
			code[n++] = 0xf3;
			if (sz[s].bits == 64)
				code[n++] = 0x48;
			code[n++] = 0x0f;
			code[n++] = lz ? 0xbd : 0xbc;
			code[n++] = 0xc1; /* eax <- ecx */
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
	STEP(&e2, &r, &res, 0x0f, 0xae, 0x13);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e2, &r, &res, 0x0f, 0xae, 0x1b);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);

	/* prefixed forms and the other memory forms of group 15 are not ldmxcsr/stmxcsr */
	STEP(&e, &r, &res, 0x66, 0x0f, 0xae, 0x13);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xae, 0x13);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf2, 0x0f, 0xae, 0x1b);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf0, 0x0f, 0xae, 0x13);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x0f, 0xae, 0x03);            /* fxsave */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x0f, 0xae, 0x0b);            /* fxrstor */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x0f, 0xae, 0x23);            /* xsave */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x0f, 0xae, 0x3b);            /* clflush */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x0f, 0xae);                  /* truncated */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x0f, 0xae, 0x53);            /* truncated disp8 */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
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
	STEP(&e, &r, &res, 0xf2, 0x0f, 0xae, 0xf0);      /* umwait eax */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x66, 0x0f, 0xae, 0xf0);      /* tpause eax */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xae, 0xf0);      /* clrssbsy-class / umonitor */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xae, 0xe8);      /* incsspd eax */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf3, 0x48, 0x0f, 0xae, 0xc0); /* rdfsbase rax */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0x0f, 0xae, 0xc0);            /* no such instruction */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	STEP(&e, &r, &res, 0xf0, 0x0f, 0xae, 0xf0);      /* lock mfence: #UD */
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	CHECK(memcmp(&r, &before, sizeof(r)) == 0);
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
	STEP(&e, &r, &res, 0xf3, 0x48, 0x0f, 0xb8, 0xc1);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
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
	STEP(&e, &r, &res, 0xf3, 0x0f, 0xb8, 0x07);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
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

/* ---- the XSAVE family (emulate_xsave.c) ---- */

static uint8_t XS[EMU_XSAVE_SIZE];   /* the vCPU's extended state as KVM would give it */
static uint64_t XCR0 = 0x7;
static int xsave_sets;
static uint64_t ro_page = ~0ull;     /* writes to this page are refused as write-protected */

static int fx_get_xsave(void *opaque, uint8_t buf[EMU_XSAVE_SIZE])
{
	(void)opaque;
	memcpy(buf, XS, sizeof(XS));
	return 0;
}

static int fx_set_xsave(void *opaque, const uint8_t buf[EMU_XSAVE_SIZE])
{
	(void)opaque;
	xsave_sets++;
	memcpy(XS, buf, sizeof(XS));
	return 0;
}

static int fx_get_xcr(void *opaque, uint32_t index, uint64_t *v)
{
	(void)opaque;
	if (index)
		return -EINVAL;
	*v = XCR0;
	return 0;
}

static int fx_set_xcr(void *opaque, uint32_t index, uint64_t v)
{
	(void)opaque;
	if (index || !(v & 1) || (v & ~0x7ull))
		return -EINVAL;
	XCR0 = v;
	return 0;
}

static int ro_write(void *opaque, uint64_t la, const void *buf, unsigned len)
{
	if ((la & ~4095ull) == ro_page)
		return -EMU_EPROT;
	return fake_write(opaque, la, buf, len);
}

static const struct emu_xsave_layout LAYOUT = { .supported = 0x7, .offset = { [2] = 576 },
						 .size = { [2] = 256 } };

static struct emu_env env_xsave(void)
{
	struct emu_env e = env64();
	e.write = ro_write;
	e.get_xsave = fx_get_xsave;
	e.set_xsave = fx_set_xsave;
	e.get_xcr = fx_get_xcr;
	e.set_xcr = fx_set_xcr;
	e.xsave_layout = &LAYOUT;
	for (unsigned i = 0; i < sizeof(XS); i++)
		XS[i] = (uint8_t)(i * 13 + 1);
	memset(XS + 512, 0, 64);
	XS[512] = 0x7;      /* XSTATE_BV: x87, SSE, AVX in use */
	XS[24] = 0x80;      /* MXCSR 0x1f80 */
	XS[25] = 0x1f;
	XS[26] = XS[27] = 0;
	XCR0 = 0x7;
	xsave_sets = 0;
	ro_page = ~0ull;
	return e;
}

static struct emu_regs regs_xsave(uint64_t image, uint64_t mask)
{
	struct emu_regs r = regs_init();
	r.gpr[EMU_RBX] = image;
	r.gpr[EMU_RAX] = (uint32_t)mask;
	r.gpr[EMU_RDX] = mask >> 32;
	return r;
}

#define IMG (MEM_BASE + 0x1000)

TEST(xsave_writes_requested_components_and_keeps_the_rest)
{
	struct emu_env e = env_xsave();
	memset(F.mem, 0xee, sizeof(F.mem));
	put_mem(IMG + 512, 0x30, 8);               /* an old XSTATE_BV with bits 4, 5 */
	struct emu_regs r = regs_xsave(IMG, 0x5);  /* x87 and AVX, not SSE */
	struct emu_result res;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x23); /* xsave64 (%rbx) */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ(r.rip, 0x1004);
	CHECK(strcmp(res.name, "xsave") == 0);
	const uint8_t *img = F.mem + (IMG - MEM_BASE);
	CHECK(memcmp(img, XS, 24) == 0);                /* FCW..FDP */
	CHECK(memcmp(img + 24, XS + 24, 8) == 0);       /* MXCSR: written for AVX too */
	CHECK(memcmp(img + 32, XS + 32, 128) == 0);     /* ST0-7 */
	CHECK_EQ(img[160], 0xee);                        /* XMM: SSE not requested */
	CHECK_EQ(img[464], 0xee);                        /* software-available bytes untouched */
	CHECK(memcmp(img + 576, XS + 576, 256) == 0);   /* AVX */
	uint64_t bv;
	memcpy(&bv, img + 512, 8);
	CHECK_EQ_HEX(bv, 0x35);                          /* bits 0 and 2 set, 4 and 5 kept */
	CHECK_EQ(img[520], 0xee);                        /* XCOMP_BV not written */
}

TEST(xsave_is_limited_by_xcr0)
{
	struct emu_env e = env_xsave();
	XCR0 = 0x3;
	memset(F.mem, 0xee, sizeof(F.mem));
	put_mem(IMG + 512, 0, 8);
	struct emu_regs r = regs_xsave(IMG, ~0ull);
	struct emu_result res;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x33); /* xsaveopt64 (%rbx): run as xsave */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK(strcmp(res.name, "xsaveopt") == 0);
	const uint8_t *img = F.mem + (IMG - MEM_BASE);
	CHECK(memcmp(img + 160, XS + 160, 256) == 0);
	CHECK_EQ(img[576], 0xee);
	CHECK_EQ(img[512], 0x3);
}

TEST(xrstor_loads_and_inits)
{
	struct emu_env e = env_xsave();
	uint8_t *img = F.mem + (IMG - MEM_BASE);
	memset(img, 0, 1024);
	for (int i = 0; i < 256; i++) {
		img[160 + i] = (uint8_t)(0x80 + i); /* XMM */
		img[576 + i] = (uint8_t)(0x40 + i); /* AVX: but XSTATE_BV says init */
	}
	img[0] = 0x7f; /* FCW 0x027f */
	img[1] = 0x02;
	put_mem(IMG + 24, 0x1fa0, 4);
	put_mem(IMG + 512, 0x3, 8);
	struct emu_regs r = regs_xsave(IMG, 0x7);
	struct emu_result res;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x2b); /* xrstor64 (%rbx) */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ(xsave_sets, 1);
	CHECK_EQ(XS[0], 0x7f);
	CHECK_EQ(XS[1], 0x02);
	CHECK(memcmp(XS + 160, img + 160, 256) == 0);
	for (int i = 0; i < 256; i++)
		CHECK_EQ(XS[576 + i], 0);                 /* AVX back to its init state */
	uint32_t mxcsr;
	memcpy(&mxcsr, XS + 24, 4);
	CHECK_EQ_HEX(mxcsr, 0x1fa0);
	CHECK_EQ(XS[512], 0x3);
}

TEST(xrstor_with_x87_in_init_state)
{
	struct emu_env e = env_xsave();
	memset(F.mem, 0, sizeof(F.mem));
	put_mem(IMG + 24, 0x1f80, 4);
	put_mem(IMG + 512, 0x2, 8);
	struct emu_regs r = regs_xsave(IMG, 0x1); /* x87 only */
	struct emu_result res;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x2b);
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ(XS[0], 0x7f); /* FCW 0x037f */
	CHECK_EQ(XS[1], 0x03);
	for (int i = 2; i < 24; i++)
		CHECK_EQ(XS[i], 0);
	CHECK_EQ(XS[160], (uint8_t)(160 * 13 + 1)); /* SSE untouched: not requested */
	CHECK_EQ(XS[512] & 1, 0);
}

TEST(xrstor_refuses_bad_images_with_gp)
{
	static const struct { uint64_t off, val; unsigned len; } bad[] = {
		{ 512, 0x8, 8 },                  /* XSTATE_BV bit outside XCR0 */
		{ 520, 0x8000000000000007ull, 8 }, /* compacted form: no XSAVEC here */
		{ 528, 1, 8 },                    /* reserved header bytes */
		{ 24, 0x10000, 4 },               /* MXCSR reserved bit */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct emu_env e = env_xsave();
		memset(F.mem, 0, sizeof(F.mem));
		put_mem(IMG + 24, 0x1f80, 4);
		put_mem(IMG + 512, 0x3, 8);
		put_mem(IMG + bad[i].off, bad[i].val, bad[i].len);
		struct emu_regs r = regs_xsave(IMG, ~0ull);
		struct emu_result res;
		STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x2b);
		CHECK_EQ(res.status, EMU_EXCEPTION);
		CHECK_EQ(res.vector, 13);
		CHECK_EQ(r.rip, 0x1000); /* a fault: RIP stays on the instruction */
		CHECK_EQ(xsave_sets, 0);
	}
	struct emu_env e = env_xsave();
	struct emu_regs r = regs_xsave(IMG + 32, ~0ull); /* not 64-byte aligned */
	struct emu_result res;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x23);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.vector, 13);
}

TEST(xsave_to_protected_or_missing_page_is_a_page_fault)
{
	struct emu_env e = env_xsave();
	memset(F.mem, 0, sizeof(F.mem));
	ro_page = IMG;
	struct emu_regs r = regs_xsave(IMG, 0x7);
	struct emu_result res;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x23);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.vector, 14);
	CHECK(res.has_error_code);
	CHECK_EQ(res.error_code, 3); /* present, write, supervisor */
	CHECK_EQ_HEX(res.cr2, IMG);
	CHECK_EQ(r.rip, 0x1000);

	e = env_xsave(); /* the image runs off the end of memory: not present */
	r = regs_xsave(MEM_BASE + MEM_SIZE - 0x200, 0x7);
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x2b); /* xrstor64 reads the header first */
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.vector, 14);
	CHECK_EQ(res.error_code, 0);
	CHECK_EQ_HEX(res.cr2, MEM_BASE + MEM_SIZE);
}

TEST(xsave_unsupported_without_callbacks_or_layout)
{
	struct emu_env e = env64();
	struct emu_regs r = regs_xsave(IMG, 0x7);
	struct emu_result res;
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x23);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	e = env_xsave();
	XCR0 = 0x7 | (1ull << 9); /* PKRU enabled but not in the layout */
	r = regs_xsave(IMG, ~0ull);
	STEP(&e, &r, &res, 0x48, 0x0f, 0xae, 0x23);
	CHECK_EQ(res.status, EMU_UNSUPPORTED);
	CHECK_EQ(r.rip, 0x1000);
}

TEST(xgetbv_xsetbv)
{
	struct emu_env e = env_xsave();
	struct emu_regs r = regs_init();
	struct emu_result res;
	r.gpr[EMU_RCX] = 0;
	r.gpr[EMU_RAX] = 0x3;
	r.gpr[EMU_RDX] = 0;
	STEP(&e, &r, &res, 0x0f, 0x01, 0xd1); /* xsetbv */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ(XCR0, 0x3);
	r.gpr[EMU_RAX] = r.gpr[EMU_RDX] = 0xdeadbeefcafe;
	STEP(&e, &r, &res, 0x0f, 0x01, 0xd0); /* xgetbv */
	CHECK_EQ(res.status, EMU_DONE);
	CHECK_EQ_HEX(r.gpr[EMU_RAX], 0x3);
	CHECK_EQ_HEX(r.gpr[EMU_RDX], 0);
	CHECK_EQ(r.rip, 0x1006);
	r.gpr[EMU_RCX] = 1; /* XGETBV1 is not offered */
	STEP(&e, &r, &res, 0x0f, 0x01, 0xd0);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(res.vector, 13);
	r.gpr[EMU_RCX] = 0;
	r.gpr[EMU_RAX] = 0x6; /* x87 bit clear: the CPU refuses */
	STEP(&e, &r, &res, 0x0f, 0x01, 0xd1);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(XCR0, 0x3);
	e.cpl = 3;
	r.gpr[EMU_RAX] = 0x7;
	STEP(&e, &r, &res, 0x0f, 0x01, 0xd1);
	CHECK_EQ(res.status, EMU_EXCEPTION);
	CHECK_EQ(XCR0, 0x3);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
