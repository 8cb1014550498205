/* Unit tests for src/arch/x86/emulate_xsave.c: xsave/xsaveopt/xrstor against a fake vCPU
 * state, their #GP and #PF cases, and xgetbv/xsetbv. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/emulate.h"
#include "unit.h"
#include "emulate_fake.h"

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
	CHECK_UNSUPPORTED(&e, &r, 0x48, 0x0f, 0xae, 0x23);
	e = env_xsave();
	XCR0 = 0x7 | (1ull << 9); /* PKRU enabled but not in the layout */
	r = regs_xsave(IMG, ~0ull);
	CHECK_UNSUPPORTED(&e, &r, 0x48, 0x0f, 0xae, 0x23);
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
