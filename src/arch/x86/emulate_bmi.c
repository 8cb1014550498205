/* BMI1/BMI2 arithmetic (emulate_bmi.h): andn, blsr/blsmsk/blsi, bzhi, pdep, pext, mulx, bextr,
 * shlx/sarx/shrx, rorx, as the SDM defines them in 32- and 64-bit operand sizes. */
#include "arch/x86/emulate_bmi.h"

#include <stddef.h>

#define F_CF (1ull << 0)
#define F_ZF (1ull << 6)
#define F_SF (1ull << 7)

enum { PP_NONE, PP_66, PP_F3, PP_F2 };

bool emu_bmi_known(uint8_t map, uint8_t op, uint8_t pp, uint8_t ext)
{
	if (map == 3)
		return op == 0xf0 && pp == PP_F2;                     /* rorx */
	if (map != 2)
		return false;
	switch (op) {
	case 0xf2: return pp == PP_NONE;                              /* andn */
	case 0xf3: return pp == PP_NONE && ext >= 1 && ext <= 3;      /* blsr, blsmsk, blsi */
	case 0xf5: return pp != PP_66;                                /* bzhi, pext, pdep */
	case 0xf6: return pp == PP_F2;                                /* mulx */
	case 0xf7: return true;                                       /* bextr, shlx, sarx, shrx */
	default: return false;
	}
}

bool emu_bmi_has_imm(uint8_t map, uint8_t op)
{
	return map == 3 && op == 0xf0;
}

static uint64_t mask(unsigned bits)
{
	return bits == 64 ? ~0ull : (1ull << bits) - 1;
}

/* ZF and SF of a result; CF as given; OF, AF, PF clear */
static uint64_t zs(uint64_t v, unsigned bits, bool cf)
{
	return (v ? 0 : F_ZF) | (v >> (bits - 1) & 1 ? F_SF : 0) | (cf ? F_CF : 0);
}

static uint64_t pdep(uint64_t src, uint64_t m)
{
	uint64_t out = 0;
	for (uint64_t bit = 1; m; bit <<= 1, m &= m - 1)
		if (src & bit)
			out |= m & -m;
	return out;
}

static uint64_t pext(uint64_t src, uint64_t m)
{
	uint64_t out = 0;
	for (uint64_t bit = 1; m; bit <<= 1, m &= m - 1)
		if (src & m & -m)
			out |= bit;
	return out;
}

void emu_bmi_compute(struct emu_bmi *b)
{
	unsigned bits = b->bits, cnt;
	uint64_t m = mask(bits), s = b->rm & m, v = b->vvvv & m, r;
	b->to_vvvv = b->has_lo = b->sets_flags = false;
	if (b->map == 3) {                                     /* rorx r, r/m, imm8 */
		cnt = b->imm & (bits - 1);
		b->name = "rorx";
		b->dst = cnt ? ((s >> cnt) | (s << (bits - cnt))) & m : s;
		return;
	}
	switch (b->op) {
	case 0xf2:                                             /* andn r, vvvv, r/m */
		b->name = "andn";
		b->dst = ~v & s & m;
		b->sets_flags = true;
		b->flags = zs(b->dst, bits, false);
		return;
	case 0xf3:                                             /* bls* vvvv, r/m */
		b->to_vvvv = b->sets_flags = true;
		if (b->ext == 1) {
			b->name = "blsr";
			b->dst = s & (s - 1) & m;
			b->flags = zs(b->dst, bits, s == 0);
		} else if (b->ext == 2) {
			b->name = "blsmsk";
			b->dst = (s ^ (s - 1)) & m;
			b->flags = zs(b->dst, bits, s == 0) & ~F_ZF; /* ZF is always clear */
		} else {
			b->name = "blsi";
			b->dst = s & -s & m;
			b->flags = zs(b->dst, bits, s != 0);
		}
		return;
	case 0xf5:
		if (b->pp == PP_NONE) {                        /* bzhi r, r/m, vvvv */
			cnt = v & 0xff;
			b->name = "bzhi";
			b->dst = cnt < bits ? s & mask(cnt) : s;
			b->sets_flags = true;
			b->flags = zs(b->dst, bits, cnt > bits - 1);
		} else if (b->pp == PP_F2) {                   /* pdep r, vvvv, r/m */
			b->name = "pdep";
			b->dst = pdep(v, s) & m;
		} else {                                       /* pext r, vvvv, r/m */
			b->name = "pext";
			b->dst = pext(v, s) & m;
		}
		return;
	case 0xf6: {                                           /* mulx r(hi), vvvv(lo), r/m */
		unsigned __int128 p = (unsigned __int128)(b->rdx & m) * s;
		b->name = "mulx";
		b->has_lo = true;
		b->lo = (uint64_t)p & m;
		b->dst = (uint64_t)(p >> bits) & m;
		return;
	}
	default:                                               /* 0xf7 */
		break;
	}
	if (b->pp == PP_NONE) {                                /* bextr r, r/m, vvvv */
		unsigned start = v & 0xff, len = (v >> 8) & 0xff;
		r = start < bits ? s >> start : 0;
		if (len < 64)
			r &= (1ull << len) - 1;
		b->name = "bextr";
		b->dst = r & m;
		b->sets_flags = true;
		b->flags = zs(b->dst, bits, false) & ~F_SF;    /* SF undefined: cleared */
		return;
	}
	cnt = v & (bits - 1);                                  /* shlx/sarx/shrx r, r/m, vvvv */
	if (b->pp == PP_66) {
		b->name = "shlx";
		r = s << cnt;
	} else if (b->pp == PP_F3) {
		b->name = "sarx";
		r = (uint64_t)(((int64_t)(s << (64 - bits)) >> (64 - bits)) >> cnt);
	} else {
		b->name = "shrx";
		r = s >> cnt;
	}
	b->dst = r & m;
}
