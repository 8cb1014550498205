#include "arch/x86/emulate.h"
#include "arch/x86/emulate_bmi.h"

#include <string.h>

#define RFLAGS_CF (1ull << 0)
#define RFLAGS_PF (1ull << 2)
#define RFLAGS_AF (1ull << 4)
#define RFLAGS_ZF (1ull << 6)
#define RFLAGS_SF (1ull << 7)
#define RFLAGS_OF (1ull << 11)
#define RFLAGS_AC (1ull << 18)
#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

enum seg { SEG_NONE, SEG_FS, SEG_GS };

struct insn {
	const uint8_t *code;
	unsigned avail, pos;
	bool opsize16, addr32, rep, repne, lock;
	enum seg seg;
	uint8_t rex;
	bool bad;       /* ran past the available bytes or hit an unsupported form */
	/* ModRM operand */
	uint8_t mod, reg, rm;
	bool rm_is_reg;
	uint64_t ea;    /* effective address (linear) when !rm_is_reg */
};

static uint8_t next(struct insn *in)
{
	if (in->pos >= in->avail || in->pos >= EMU_MAX_INSN) {
		in->bad = true;
		return 0;
	}
	return in->code[in->pos++];
}

static uint64_t imm(struct insn *in, unsigned bytes)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < bytes; i++)
		v |= (uint64_t)next(in) << (8 * i);
	return v;
}

static int64_t sext(uint64_t v, unsigned bytes)
{
	unsigned shift = 64 - 8 * bytes;
	return (int64_t)(v << shift) >> shift;
}

static void prefixes(const struct emu_env *env, struct insn *in)
{
	for (;;) {
		if (in->pos >= in->avail)
			return;
		uint8_t b = in->code[in->pos];
		switch (b) {
		case 0x66: in->opsize16 = true; break;
		case 0x67: in->addr32 = true; break;
		case 0xf3: in->rep = true; break;
		case 0xf2: in->repne = true; break;
		case 0xf0: in->lock = true; break;
		case 0x64: in->seg = SEG_FS; break;
		case 0x65: in->seg = SEG_GS; break;
		case 0x26: case 0x2e: case 0x36: case 0x3e: break; /* flat in long mode */
		default:
			if (env->long_mode && (b & 0xf0) == 0x40) {
				in->rex = b;
				in->pos++;
				return; /* REX must come last */
			}
			return;
		}
		in->pos++;
	}
}

/* Decode ModRM (+SIB, displacement) and compute the effective address. */
static void modrm(const struct emu_env *env, struct insn *in, const struct emu_regs *r)
{
	uint8_t m = next(in);
	in->mod = m >> 6;
	in->reg = (uint8_t)(((m >> 3) & 7) | ((in->rex & 4) << 1));
	in->rm = m & 7;
	if (in->mod == 3) {
		in->rm_is_reg = true;
		in->rm |= (uint8_t)((in->rex & 1) << 3);
		return;
	}
	/* Outside long mode the address size is CS.D, flipped by 0x67. */
	bool a32 = env->long_mode ? in->addr32 : true;
	if (!env->long_mode && env->cs_db == in->addr32) {
		in->bad = true; /* 16-bit addressing: not supported */
		return;
	}
	uint64_t ea = 0;
	if (in->rm == 4) { /* SIB */
		uint8_t sib = next(in);
		unsigned scale = sib >> 6;
		unsigned index = ((sib >> 3) & 7) | ((in->rex & 2) << 2);
		unsigned base = (sib & 7) | ((in->rex & 1) << 3);
		if (index != 4)
			ea += r->gpr[index] << scale;
		if ((base & 7) == 5 && in->mod == 0)
			ea += (uint64_t)sext(imm(in, 4), 4);
		else
			ea += r->gpr[base];
	} else if (in->rm == 5 && in->mod == 0) {
		int64_t disp = sext(imm(in, 4), 4);
		if (env->long_mode)
			in->ea = (uint64_t)disp; /* RIP-relative: fixed up once the length is known */
		else
			ea = (uint64_t)disp;
		if (env->long_mode) {
			in->rm = 0xff; /* marker */
			return;
		}
	} else {
		ea = r->gpr[in->rm | ((in->rex & 1) << 3)];
	}
	if (in->mod == 1)
		ea += (uint64_t)sext(imm(in, 1), 1);
	else if (in->mod == 2)
		ea += (uint64_t)sext(imm(in, 4), 4);
	in->ea = a32 ? (uint32_t)ea : ea;
}

static uint64_t seg_base(const struct emu_env *env, const struct insn *in)
{
	return in->seg == SEG_FS ? env->fs_base : in->seg == SEG_GS ? env->gs_base : 0;
}

/* Finish the address once the instruction length is known (RIP-relative needs it). */
static uint64_t linear(const struct emu_env *env, const struct insn *in, const struct emu_regs *r)
{
	uint64_t ea = in->ea;
	if (in->rm == 0xff && !in->rm_is_reg)
		ea += r->rip + in->pos;
	return ea + seg_base(env, in);
}

static unsigned opsize(const struct emu_env *env, const struct insn *in)
{
	if (in->rex & 8)
		return 8;
	bool def16 = !env->long_mode && !env->cs_db; /* 16-bit code segment */
	return in->opsize16 != def16 ? 2 : 4;
}

static uint64_t mask_of(unsigned size)
{
	return size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

static int read_rm(const struct emu_env *env, const struct insn *in, const struct emu_regs *r,
		   unsigned size, uint64_t *val)
{
	if (in->rm_is_reg) {
		*val = r->gpr[in->rm] & mask_of(size);
		return 0;
	}
	uint64_t v = 0;
	if (env->read(env->opaque, linear(env, in, r), &v, size) < 0)
		return -1;
	*val = v & mask_of(size);
	return 0;
}

static void write_reg(struct emu_regs *r, unsigned reg, unsigned size, uint64_t v)
{
	if (size == 4)
		r->gpr[reg] = (uint32_t)v;         /* 32-bit writes zero-extend */
	else if (size == 2)
		r->gpr[reg] = (r->gpr[reg] & ~0xffffull) | (v & 0xffff);
	else
		r->gpr[reg] = v;
}

static unsigned popcount64(uint64_t v)
{
	unsigned n = 0;
	for (; v; v &= v - 1)
		n++;
	return n;
}

/* popcnt / tzcnt / lzcnt: F3 0F B8/BC/BD /r */
static void bit_count(const struct emu_env *env, struct insn *in, struct emu_regs *r,
		      uint8_t op, struct emu_result *res)
{
	modrm(env, in, r);
	if (in->bad)
		return;
	unsigned size = opsize(env, in);
	uint64_t src;
	if (read_rm(env, in, r, size, &src) < 0) {
		res->status = EMU_FAULT;
		return;
	}
	unsigned bits = 8 * size, result;
	uint64_t flags = r->rflags & ~RFLAGS_ARITH;
	if (op == 0xb8) {
		res->name = "popcnt";
		result = popcount64(src);
		if (!src)
			flags |= RFLAGS_ZF;
	} else {
		res->name = op == 0xbc ? "tzcnt" : "lzcnt";
		if (!src) {
			result = bits;
			flags |= RFLAGS_CF;
		} else if (op == 0xbc) {
			result = (unsigned)__builtin_ctzll(src);
		} else {
			result = (unsigned)__builtin_clzll(src) - (64 - bits);
		}
		if (result == 0)
			flags |= RFLAGS_ZF;
	}
	write_reg(r, in->reg, size, result);
	r->rflags = flags;
	res->status = EMU_DONE;
}

#define MXCSR_VALID 0xffffu

/* 0F AE group 15 with a memory operand: ldmxcsr (/2), stmxcsr (/3), and the XSAVE family
 * (/4 xsave, /5 xrstor, /6 xsaveopt: emulate_xsave.c), the cache line flushes. Fences (mod 3)
 * have no effect to emulate: the vCPU is stopped while petrel runs. */
static void group15(const struct emu_env *env, struct insn *in, struct emu_regs *r,
		    struct emu_result *res)
{
	modrm(env, in, r);
	if (in->bad)
		return;
	if (in->rm_is_reg) {
		unsigned ext = in->reg & 7;
		if (ext >= 5 && !in->rep && !in->repne && !in->opsize16 && !in->lock) { /* F2: umwait */
			res->name = ext == 5 ? "lfence" : ext == 6 ? "mfence" : "sfence";
			res->status = EMU_DONE;
		}
		return;
	}
	unsigned ext = in->reg & 7;
	/* clflush (0F AE /7), clflushopt (66 0F AE /7), clwb (66 0F AE /6: Linux's pmem DAX
	 * writes): write a cache line back. Guest memory is the host's and coherent for every
	 * reader; a pmem file becomes durable through the device's flush request. What is left
	 * is the CPU's access check: a line whose page is not mapped readable is a #PF; one that
	 * is not RAM (pmem, MMIO: EMU_FAULT from the callbacks) is flushed like any other. */
	if ((ext == 7 || (ext == 6 && in->opsize16)) && !in->rep && !in->repne && !in->lock) {
		uint8_t byte;
		res->name = ext == 6 ? "clwb" : in->opsize16 ? "clflushopt" : "clflush";
		if (emu_access(env, linear(env, in, r), &byte, 1, false, res) || res->status == EMU_FAULT)
			res->status = EMU_DONE;
		return;
	}
	if (ext >= 4 && ext <= 6 && !in->rep && !in->repne && !in->opsize16 && !in->lock) {
		emu_xsave_op(env, r, ext, linear(env, in, r), res);
		return;
	}
	if ((ext != 2 && ext != 3) || in->rep || in->repne || in->opsize16 || in->lock ||
	    !env->get_mxcsr || !env->set_mxcsr)
		return;
	uint64_t la = linear(env, in, r);
	uint32_t v;
	if (ext == 2) {
		res->name = "ldmxcsr";
		if (env->read(env->opaque, la, &v, 4) < 0) {
			res->status = EMU_FAULT;
			return;
		}
		if (v & ~MXCSR_VALID) { /* reserved bits: #GP(0), RIP stays */
			res->status = EMU_EXCEPTION;
			res->vector = 13;
			res->has_error_code = true;
			res->error_code = 0;
			return;
		}
		res->status = env->set_mxcsr(env->opaque, v) < 0 ? EMU_FAULT : EMU_DONE;
	} else {
		res->name = "stmxcsr";
		if (env->get_mxcsr(env->opaque, &v) < 0 || env->write(env->opaque, la, &v, 4) < 0) {
			res->status = EMU_FAULT;
			return;
		}
		res->status = EMU_DONE;
	}
}

/* A three-byte VEX instruction (C4, 64-bit mode): the BMI1/BMI2 ones (emulate_bmi.c). A legacy
 * or REX prefix before it, or VEX.L, makes it #UD on a CPU: left unsupported here. */
static void vex(const struct emu_env *env, struct insn *in, struct emu_regs *r, struct emu_result *res)
{
	if (in->rex || in->opsize16 || in->rep || in->repne || in->lock)
		return;
	uint8_t b1 = next(in), b2 = next(in);
	if (b2 & 4)
		return;
	struct emu_bmi b = { .map = b1 & 0x1f, .pp = b2 & 3, .bits = b2 & 0x80 ? 64 : 32 };
	unsigned v = (~b2 >> 3) & 15, size = b.bits / 8;
	in->rex = (uint8_t)((b2 & 0x80 ? 8 : 0) | ((~b1 >> 5) & 7)); /* W, and R X B inverted */
	b.op = next(in);
	modrm(env, in, r);
	b.ext = in->reg & 7;
	if (in->bad || !emu_bmi_known(b.map, b.op, b.pp, b.ext))
		return;
	if (emu_bmi_has_imm(b.map, b.op))
		b.imm = next(in);
	if (in->bad)
		return;
	if (read_rm(env, in, r, size, &b.rm) < 0) {
		res->status = EMU_FAULT;
		return;
	}
	b.vvvv = r->gpr[v];
	b.rdx = r->gpr[EMU_RDX];
	emu_bmi_compute(&b);
	res->name = b.name;
	if (b.has_lo)
		write_reg(r, v, size, b.lo);
	write_reg(r, b.to_vvvv ? v : in->reg, size, b.dst);
	if (b.sets_flags)
		r->rflags = (r->rflags & ~RFLAGS_ARITH) | b.flags;
	res->status = EMU_DONE;
}

void emu_step(const struct emu_env *env, struct emu_regs *r, const uint8_t *code, unsigned avail,
	      struct emu_result *res)
{
	struct insn in = { .code = code, .avail = avail };
	memset(res, 0, sizeof(*res));
	res->status = EMU_UNSUPPORTED;
	res->name = "unknown";
	prefixes(env, &in);
	uint8_t op = next(&in);
	if (op == 0xcc) {                      /* int3: trap, RIP points after it */
		res->name = "int3";
		res->status = EMU_EXCEPTION;
		res->vector = 3;
	} else if (op == 0x9b) {               /* fwait: no x87 exception is ever pending here */
		res->name = "fwait";
		res->status = EMU_DONE;
	} else if (op == 0x90 && in.rep && !(in.rex & 1)) { /* pause (41 90 is xchg r8) */
		res->name = "pause";
		res->status = EMU_DONE;
	} else if (op == 0xc4 && env->long_mode) {
		vex(env, &in, r, res);
	} else if (op == 0x0f) {
		uint8_t op2 = next(&in);
		if (op2 == 0x01) {
			uint8_t m = next(&in);
			if ((m == 0xd0 || m == 0xd1) && !in.rep && !in.repne && !in.opsize16 && !in.lock) {
				emu_xcr(env, r, m == 0xd1, res);
			} else if ((m == 0xca || m == 0xcb) && env->cpl == 0) {
				res->name = m == 0xca ? "clac" : "stac";
				if (m == 0xca)
					r->rflags &= ~RFLAGS_AC;
				else
					r->rflags |= RFLAGS_AC;
				res->status = EMU_DONE;
			}
		} else if (op2 == 0xae) {
			group15(env, &in, r, res);
		} else if ((op2 == 0xb8 || op2 == 0xbc || op2 == 0xbd) && in.rep && !in.lock) {
			bit_count(env, &in, r, op2, res);
		}
	}
	if (in.bad) {
		res->status = EMU_UNSUPPORTED;
		return;
	}
	res->len = in.pos;
	/* Traps (int3) leave RIP after the instruction; faults (#GP) leave it on it. */
	if (res->status == EMU_DONE || (res->status == EMU_EXCEPTION && res->vector == 3))
		r->rip += in.pos;
}
