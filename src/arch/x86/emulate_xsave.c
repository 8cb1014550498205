/* The XSAVE family for guest ring 0 on hosts whose KVM cannot run it (PVM).
 *
 * Why it matters: on PVM, guest ring 3 runs natively under the host's XCR0, so guest user
 * space sees (and glibc uses) AVX and AVX-512 whatever the guest kernel enabled. A kernel
 * booted with `noxsave` context-switches only the FXSAVE state, and the upper halves of the
 * vector registers, ymm16-31/zmm16-31 and the opmask registers then leak and get clobbered
 * between guest processes. So petrel lets the kernel use XSAVE and runs these instructions
 * itself against KVM's copy of the vCPU's extended state (KVM_GET_XSAVE / KVM_SET_XSAVE,
 * which use the same standard layout as the guest's memory image).
 *
 * Only the standard (non-compacted) form: petrel hides XSAVEC, XSAVES and XGETBV1 from the
 * guest, so a compacted image or XCR1 is refused with #GP like on a CPU without them. XSAVEOPT
 * is run as XSAVE (the optimisation may write more than needed, never less). */
#include "arch/x86/emulate.h"

#include <string.h>

#define LEGACY_X87_END 24   /* FCW..FDP: bytes 0-23 */
#define LEGACY_MXCSR 24     /* MXCSR, MXCSR_MASK: bytes 24-31 */
#define LEGACY_ST 32        /* ST0-7/MM0-7: bytes 32-159 */
#define LEGACY_XMM 160      /* XMM0-15: bytes 160-415 */
#define LEGACY_XMM_END 416
#define HDR 512             /* XSTATE_BV at 512, XCOMP_BV at 520, reserved to 575 */
#define HDR_SIZE 64
#define MXCSR_VALID 0xffffu
#define FCW_INIT 0x037f

#define GP 13
#define PF 14
#define PF_PRESENT 1u
#define PF_WRITE 2u
#define PF_USER 4u

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void exception(struct emu_result *res, unsigned vector, uint32_t error_code)
{
	res->status = EMU_EXCEPTION;
	res->vector = vector;
	res->has_error_code = true;
	res->error_code = error_code;
}

bool emu_access(const struct emu_env *env, uint64_t la, void *dst, unsigned len, bool write,
		struct emu_result *res)
{
	uint8_t *buf = dst;
	while (len) {
		unsigned chunk = 4096 - (unsigned)(la & 4095);
		if (chunk > len)
			chunk = len;
		int err = write ? env->write(env->opaque, la, buf, chunk)
				: env->read(env->opaque, la, buf, chunk);
		if (err < 0) {
			if (err != -EFAULT && err != -EMU_EPROT) {
				res->status = EMU_FAULT; /* not a guest page fault: petrel cannot go on */
				return false;
			}
			exception(res, PF, (err == -EMU_EPROT ? PF_PRESENT : 0) | (write ? PF_WRITE : 0) |
					      (env->cpl == 3 ? PF_USER : 0));
			res->cr2 = la;
			return false;
		}
		la += chunk;
		buf += chunk;
		len -= chunk;
	}
	return true;
}

/* The requested-feature bitmap: XCR0 & EDX:EAX. */
static bool rfbm_of(const struct emu_env *env, const struct emu_regs *r, uint64_t *rfbm,
		    struct emu_result *res)
{
	uint64_t xcr0;
	if (env->get_xcr(env->opaque, 0, &xcr0) < 0) {
		res->status = EMU_FAULT;
		return false;
	}
	uint64_t mask = (r->gpr[EMU_RDX] << 32) | (uint32_t)r->gpr[EMU_RAX];
	*rfbm = xcr0 & mask;
	return true;
}

/* Components >= 2 of rfbm whose place in the image petrel knows. */
static bool layout_covers(const struct emu_xsave_layout *l, uint64_t rfbm)
{
	for (unsigned i = 2; i < EMU_XSAVE_MAX_COMPONENTS; i++) {
		if (!(rfbm & (1ull << i)))
			continue;
		if (!(l->supported & (1ull << i)) || !l->size[i] || l->offset[i] < HDR + HDR_SIZE ||
		    l->offset[i] + l->size[i] > EMU_XSAVE_SIZE)
			return false;
	}
	return true;
}

/* The byte ranges of the image that component i occupies (two for x87 and SSE's MXCSR). */
struct range { uint32_t start, len; };

static unsigned ranges_of(const struct emu_xsave_layout *l, unsigned i, struct range out[2])
{
	switch (i) {
	case 0:
		out[0] = (struct range){ 0, LEGACY_X87_END };
		out[1] = (struct range){ LEGACY_ST, LEGACY_XMM - LEGACY_ST };
		return 2;
	case 1:
		out[0] = (struct range){ LEGACY_XMM, LEGACY_XMM_END - LEGACY_XMM };
		return 1;
	default:
		out[0] = (struct range){ l->offset[i], l->size[i] };
		return 1;
	}
}

static void xsave(const struct emu_env *env, uint64_t rfbm, uint64_t la, struct emu_result *res)
{
	uint8_t state[EMU_XSAVE_SIZE];
	if (env->get_xsave(env->opaque, state) < 0) {
		res->status = EMU_FAULT;
		return;
	}
	/* XSAVE reads XSTATE_BV first and changes only the bits of the requested components. */
	uint8_t bv[8];
	if (!emu_access(env, la + HDR, bv, 8, false, res))
		return;
	uint64_t xstate_bv = (get64(bv) & ~rfbm) | (get64(state + HDR) & rfbm);
	for (unsigned i = 0; i < EMU_XSAVE_MAX_COMPONENTS; i++) {
		if (!(rfbm & (1ull << i)))
			continue;
		struct range rg[2];
		unsigned n = ranges_of(env->xsave_layout, i, rg);
		for (unsigned k = 0; k < n; k++)
			if (!emu_access(env, la + rg[k].start, state + rg[k].start, rg[k].len, true, res))
				return;
	}
	if ((rfbm & 6) && !emu_access(env, la + LEGACY_MXCSR, state + LEGACY_MXCSR, 8, true, res))
		return;
	put64(bv, xstate_bv);
	if (!emu_access(env, la + HDR, bv, 8, true, res))
		return;
	res->status = EMU_DONE;
}

static void init_component(uint8_t *state, const struct emu_xsave_layout *l, unsigned i)
{
	struct range rg[2];
	unsigned n = ranges_of(l, i, rg);
	for (unsigned k = 0; k < n; k++)
		memset(state + rg[k].start, 0, rg[k].len);
	if (i == 0) {
		state[0] = FCW_INIT & 0xff; /* FCW; FSW, abridged FTW (all empty), FOP, FIP, FDP: 0 */
		state[1] = FCW_INIT >> 8;
	}
}

static void xrstor(const struct emu_env *env, uint64_t rfbm, uint64_t la, struct emu_result *res)
{
	uint8_t state[EMU_XSAVE_SIZE], hdr[HDR_SIZE];
	if (!emu_access(env, la + HDR, hdr, HDR_SIZE, false, res))
		return;
	uint64_t xcr0;
	if (env->get_xcr(env->opaque, 0, &xcr0) < 0) {
		res->status = EMU_FAULT;
		return;
	}
	uint64_t xstate_bv = get64(hdr);
	/* Standard form only: XCOMP_BV and the next 8 bytes must be 0; no bit outside XCR0. */
	if (get64(hdr + 8) || get64(hdr + 16) || (xstate_bv & ~xcr0)) {
		exception(res, GP, 0);
		return;
	}
	if (env->get_xsave(env->opaque, state) < 0) {
		res->status = EMU_FAULT;
		return;
	}
	if (rfbm & 6) { /* MXCSR comes from memory whenever SSE or AVX state is requested */
		uint8_t mx[4];
		if (!emu_access(env, la + LEGACY_MXCSR, mx, 4, false, res))
			return;
		uint32_t mxcsr;
		memcpy(&mxcsr, mx, 4);
		if (mxcsr & ~MXCSR_VALID) {
			exception(res, GP, 0);
			return;
		}
		memcpy(state + LEGACY_MXCSR, mx, 4);
	}
	uint64_t new_bv = get64(state + HDR) & ~rfbm;
	for (unsigned i = 0; i < EMU_XSAVE_MAX_COMPONENTS; i++) {
		if (!(rfbm & (1ull << i)))
			continue;
		if (!(xstate_bv & (1ull << i))) {
			init_component(state, env->xsave_layout, i);
			continue;
		}
		struct range rg[2];
		unsigned n = ranges_of(env->xsave_layout, i, rg);
		for (unsigned k = 0; k < n; k++)
			if (!emu_access(env, la + rg[k].start, state + rg[k].start, rg[k].len, false, res))
				return;
		new_bv |= 1ull << i;
	}
	put64(state + HDR, new_bv);
	memset(state + HDR + 8, 0, HDR_SIZE - 8);
	int err = env->set_xsave(env->opaque, state);
	if (err == -EINVAL)
		exception(res, GP, 0); /* KVM refused the image: what the CPU would #GP on */
	else
		res->status = err < 0 ? EMU_FAULT : EMU_DONE;
}

void emu_xsave_op(const struct emu_env *env, struct emu_regs *r, unsigned ext, uint64_t la,
		  struct emu_result *res)
{
	res->name = ext == 4 ? "xsave" : ext == 5 ? "xrstor" : "xsaveopt";
	if (!env->get_xsave || !env->set_xsave || !env->get_xcr || !env->xsave_layout)
		return; /* EMU_UNSUPPORTED */
	if (la & 63) {
		exception(res, GP, 0); /* the image must be 64-byte aligned */
		return;
	}
	uint64_t rfbm;
	if (!rfbm_of(env, r, &rfbm, res))
		return;
	if (!layout_covers(env->xsave_layout, rfbm)) {
		res->status = EMU_UNSUPPORTED; /* a component petrel does not know where to put */
		return;
	}
	if (ext == 5)
		xrstor(env, rfbm, la, res);
	else
		xsave(env, rfbm, la, res);
}

void emu_xcr(const struct emu_env *env, struct emu_regs *r, bool set, struct emu_result *res)
{
	res->name = set ? "xsetbv" : "xgetbv";
	if (!env->get_xcr || !env->set_xcr)
		return;
	uint32_t index = (uint32_t)r->gpr[EMU_RCX];
	if (set) {
		if (env->cpl != 0) {
			exception(res, GP, 0);
			return;
		}
		uint64_t v = (r->gpr[EMU_RDX] << 32) | (uint32_t)r->gpr[EMU_RAX];
		int err = env->set_xcr(env->opaque, index, v);
		if (err == -EINVAL)
			exception(res, GP, 0);
		else
			res->status = err < 0 ? EMU_FAULT : EMU_DONE;
		return;
	}
	uint64_t v;
	int err = env->get_xcr(env->opaque, index, &v);
	if (err == -EINVAL) {
		exception(res, GP, 0); /* only XCR0: XGETBV1 is not offered */
		return;
	}
	if (err < 0) {
		res->status = EMU_FAULT;
		return;
	}
	r->gpr[EMU_RAX] = (uint32_t)v;
	r->gpr[EMU_RDX] = v >> 32;
	res->status = EMU_DONE;
}
