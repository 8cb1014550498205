/* The instruction emulator's tests (test_emulate_*.c): a fake guest (MEM_SIZE bytes of
 * memory at linear address MEM_BASE, MXCSR, access counters), an emu_env over it, recognisable
 * registers, STEP, which runs emu_step on an exact-size heap copy of the bytes, and
 * CHECK_UNSUPPORTED, a STEP whose result must be EMU_UNSUPPORTED. */
#ifndef PETREL_TESTS_UNIT_EMULATE_FAKE_H
#define PETREL_TESTS_UNIT_EMULATE_FAKE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"

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
	int err;            /* when set, every read fails with -err (not a page fault: -EIO) */
	uint32_t mxcsr;
	unsigned mxcsr_gets, mxcsr_sets;
};

static inline int fake_get_mxcsr(void *opaque, uint32_t *v)
{
	struct fake *f = opaque;
	f->mxcsr_gets++;
	*v = f->mxcsr;
	return 0;
}

static inline int fake_set_mxcsr(void *opaque, uint32_t v)
{
	struct fake *f = opaque;
	f->mxcsr_sets++;
	f->mxcsr = v;
	return 0;
}

static inline int fake_read(void *opaque, uint64_t la, void *buf, unsigned len)
{
	struct fake *f = opaque;
	f->reads++;
	f->last_la = la;
	f->last_len = len;
	if (f->err)
		return -f->err;
	if (f->fail || la < MEM_BASE || la - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (la - MEM_BASE))
		return -EFAULT;
	memcpy(buf, f->mem + (la - MEM_BASE), len);
	return 0;
}

static inline int fake_write(void *opaque, uint64_t la, const void *buf, unsigned len)
{
	struct fake *f = opaque;
	f->writes++;
	if (f->fail || la < MEM_BASE || la - MEM_BASE > MEM_SIZE || len > MEM_SIZE - (la - MEM_BASE))
		return -EFAULT;
	memcpy(f->mem + (la - MEM_BASE), buf, len);
	return 0;
}

static struct fake F;

static inline struct emu_env env64(void)
{
	memset(&F, 0, sizeof(F));
	F.mxcsr = 0x1f80;
	return (struct emu_env){ .opaque = &F, .read = fake_read, .write = fake_write,
				 .get_mxcsr = fake_get_mxcsr, .set_mxcsr = fake_set_mxcsr,
				 .long_mode = true, .cpl = 0 };
}

static inline void put_mem(uint64_t la, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		F.mem[la - MEM_BASE + i] = (uint8_t)(v >> (8 * i));
}

/* Run emu_step on an exact-size heap copy of the bytes, so an overread trips ASan. */
static inline void step(const struct emu_env *env, struct emu_regs *r, const uint8_t *code, unsigned n,
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

/* Run the bytes and expect EMU_UNSUPPORTED: not an instruction the emulator claims. */
#define CHECK_UNSUPPORTED(env, r, ...)                                                       \
	do {                                                                                 \
		struct emu_result unsup_;                                                    \
		STEP((env), (r), &unsup_, __VA_ARGS__);                                      \
		CHECK_EQ(unsup_.status, EMU_UNSUPPORTED);                                    \
	} while (0)

static inline struct emu_regs regs_init(void)
{
	struct emu_regs r;
	for (int i = 0; i < 16; i++)
		r.gpr[i] = 0x1111111111111111ull * (uint64_t)(i + 1); /* recognisable garbage */
	r.rip = 0x1000;
	r.rflags = 0x2;
	return r;
}

#endif
