/* The legacy VGA's registers and planes: see vga.h. Behaviour after the VGA's reference
 * (IBM's VGA technical reference, as QEMU's hw/display/vga.c and SeaVGABIOS's stdvga code
 * drive it); written for petrel. */
#include "devices/display/vga.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

/* The bits each register keeps (the rest read as 0), as a VGA's. */
static const uint8_t sr_mask[VGA_NSR] = { 0x03, 0x3d, 0x0f, 0x3f, 0x0e, 0x00, 0x00, 0xff };
static const uint8_t gr_mask[VGA_NGR] = { 0x0f, 0x0f, 0x0f, 0x1f, 0x03, 0x7b, 0x0f, 0x0f, 0xff };

enum { SR_MAP_MASK = 2, SR_MEM_MODE = 4 };
enum { GR_SET_RESET, GR_ENABLE_SR, GR_COLOR_CMP, GR_ROTATE, GR_READ_MAP, GR_MODE, GR_MISC, GR_DONT_CARE, GR_BIT_MASK };

void vga_init(struct vga *v)
{
	memset(v, 0, sizeof(*v));
	v->r.pel_mask = 0xff;
}

/* The CRT controller's ports follow the miscellaneous register's bit 0: 0x3Dx (colour) or 0x3Bx
 * (mono); the other pair reads 0xff and ignores writes. */
static bool crtc_port(const struct vga *v, unsigned port)
{
	return (v->r.misc & 1) ? (port & 0xfff0) == 0x3d0 : (port & 0xfff0) == 0x3b0;
}

uint8_t vga_port_read(struct vga *v, unsigned off)
{
	struct vga_regs *r = &v->r;
	unsigned port = VGA_PORT_BASE + off;
	switch (port) {
	case 0x3c0: return r->ar_index;
	case 0x3c1: return (r->ar_index & 0x1f) < VGA_NAR ? r->ar[r->ar_index & 0x1f] : 0;
	case 0x3c2: return 0x10;   /* input status 0: the switch sense of a colour monitor */
	case 0x3c4: return r->sr_index;
	case 0x3c5: return r->sr[r->sr_index];
	case 0x3c6: return r->pel_mask;
	case 0x3c7: return r->dac_state;
	case 0x3c8: return r->dac_write;
	case 0x3c9: {
		uint8_t b = r->palette[r->dac_read * 3 + r->dac_sub];
		if (++r->dac_sub == 3) {
			r->dac_sub = 0;
			r->dac_read++;
		}
		return b;
	}
	case 0x3ca: return r->feature;
	case 0x3cc: return r->misc;
	case 0x3ce: return r->gr_index;
	case 0x3cf: return r->gr_index < VGA_NGR ? r->gr[r->gr_index] : 0;
	case 0x3b4: case 0x3d4: return crtc_port(v, port) ? r->cr_index : 0xff;
	case 0x3b5: case 0x3d5: return crtc_port(v, port) && r->cr_index < VGA_NCR ? r->cr[r->cr_index] : 0xff;
	case 0x3ba: case 0x3da:
		if (!crtc_port(v, port))
			return 0xff;
		/* input status 1: reading resets the attribute controller's flip-flop; the retrace
		 * bits (0: display disabled, 3: vertical retrace) toggle, so a BIOS waiting for
		 * either sees it come */
		r->ar_flip = 0;
		r->retrace ^= 0x09;
		return r->retrace;
	default: return 0xff;
	}
}

static void dac_write(struct vga_regs *r, uint8_t val)
{
	r->dac_cache[r->dac_sub++] = val & 0x3f;
	if (r->dac_sub < 3)
		return;
	memcpy(&r->palette[r->dac_write * 3], r->dac_cache, 3);
	r->dac_sub = 0;
	r->dac_write++;
}

static void crtc_write(struct vga_regs *r, uint8_t val)
{
	if (r->cr_index >= VGA_NCR)
		return;
	/* CR11 bit 7 protects CR0-CR7, but CR7's line compare bit 4 */
	if ((r->cr[0x11] & 0x80) && r->cr_index <= 7) {
		if (r->cr_index == 7)
			r->cr[7] = (uint8_t)((r->cr[7] & ~0x10) | (val & 0x10));
		return;
	}
	r->cr[r->cr_index] = val;
}

void vga_port_write(struct vga *v, unsigned off, uint8_t val)
{
	struct vga_regs *r = &v->r;
	unsigned port = VGA_PORT_BASE + off;
	switch (port) {
	case 0x3c0:
		if (!r->ar_flip)
			r->ar_index = val & 0x3f;
		else if ((r->ar_index & 0x1f) < VGA_NAR)
			r->ar[r->ar_index & 0x1f] = val;
		r->ar_flip ^= 1;
		break;
	case 0x3c2: r->misc = val; break;
	case 0x3c4: r->sr_index = val & 7; break;
	case 0x3c5: r->sr[r->sr_index] = val & sr_mask[r->sr_index]; break;
	case 0x3c6: r->pel_mask = val; break;
	case 0x3c7: r->dac_read = val; r->dac_sub = 0; r->dac_state = 3; break;
	case 0x3c8: r->dac_write = val; r->dac_sub = 0; r->dac_state = 0; break;
	case 0x3c9: dac_write(r, val); break;
	case 0x3ce: r->gr_index = val & 0x0f; break;
	case 0x3cf:
		if (r->gr_index < VGA_NGR)
			r->gr[r->gr_index] = val & gr_mask[r->gr_index];
		break;
	case 0x3b4: case 0x3d4:
		if (crtc_port(v, port))
			r->cr_index = val;
		break;
	case 0x3b5: case 0x3d5:
		if (crtc_port(v, port))
			crtc_write(r, val);
		break;
	case 0x3ba: case 0x3da:
		if (crtc_port(v, port))
			r->feature = val;
		break;
	default: break;   /* 0x3C3 (enable), 0x3CA, 0x3CC and the rest: read-only or absent */
	}
}

/* ---- the window ---- */

bool vga_window_is_a0000_64k(const struct vga *v)
{
	return ((v->r.gr[GR_MISC] >> 2) & 3) == 1;
}

/* Where off falls in the window the graphics controller maps: the offset in it, or -1. */
static int64_t window_offset(const struct vga *v, uint32_t off)
{
	static const uint32_t base[4] = { 0, 0, 0x10000, 0x18000 }, len[4] = { 0x20000, 0x10000, 0x8000, 0x8000 };
	unsigned m = (v->r.gr[GR_MISC] >> 2) & 3;
	if (off < base[m] || off - base[m] >= len[m])
		return -1;
	return off - base[m];
}

/* 0x00 or 0xff for bit p of b. */
static uint8_t expand(uint8_t b, unsigned p)
{
	return (b >> p) & 1 ? 0xff : 0x00;
}

uint8_t vga_mem_read(struct vga *v, uint32_t off)
{
	const struct vga_regs *r = &v->r;
	int64_t o = window_offset(v, off);
	if (o < 0)
		return 0xff;
	uint32_t a = (uint32_t)o;
	if (r->sr[SR_MEM_MODE] & 0x08)   /* chain 4: the address's low bits pick the plane */
		return v->planes[a & 3][(a >> 2) & (VGA_PLANE_SIZE - 1)];
	if (r->gr[GR_MODE] & 0x10)       /* odd/even: even bytes plane 0 (2), odd plane 1 (3) */
		return v->planes[(r->gr[GR_READ_MAP] & 2) | (a & 1)][(a >> 1) & (VGA_PLANE_SIZE - 1)];
	a &= VGA_PLANE_SIZE - 1;
	for (unsigned p = 0; p < 4; p++)
		v->r.latch[p] = v->planes[p][a];
	if (!(r->gr[GR_MODE] & 0x08))    /* read mode 0: the plane read map selects */
		return v->r.latch[r->gr[GR_READ_MAP] & 3];
	/* read mode 1: bits whose colour equals the compare colour (in the planes cared for) */
	uint8_t diff = 0;
	for (unsigned p = 0; p < 4; p++)
		diff |= (v->r.latch[p] ^ expand(r->gr[GR_COLOR_CMP], p)) & expand(r->gr[GR_DONT_CARE], p);
	return (uint8_t)~diff;
}

void vga_mem_write(struct vga *v, uint32_t off, uint8_t val)
{
	const struct vga_regs *r = &v->r;
	int64_t o = window_offset(v, off);
	if (o < 0)
		return;
	uint32_t a = (uint32_t)o;
	uint8_t map = r->sr[SR_MAP_MASK];
	if (r->sr[SR_MEM_MODE] & 0x08) {
		if (map & (1u << (a & 3)))
			v->planes[a & 3][(a >> 2) & (VGA_PLANE_SIZE - 1)] = val;
		return;
	}
	if (!(r->sr[SR_MEM_MODE] & 0x04)) {   /* odd/even */
		unsigned p = a & 1;
		if (map & (1u << p))
			v->planes[p][(a >> 1) & (VGA_PLANE_SIZE - 1)] = val;
		return;
	}
	a &= VGA_PLANE_SIZE - 1;
	unsigned mode = r->gr[GR_MODE] & 3, rot = r->gr[GR_ROTATE] & 7;
	uint8_t rv = (uint8_t)((val >> rot) | (val << ((8 - rot) & 7))), mask = r->gr[GR_BIT_MASK];
	if (mode == 3)
		mask &= rv;
	for (unsigned p = 0; p < 4; p++) {
		if (!(map & (1u << p)))
			continue;
		uint8_t d, l = r->latch[p];
		switch (mode) {
		case 0: d = (r->gr[GR_ENABLE_SR] >> p) & 1 ? expand(r->gr[GR_SET_RESET], p) : rv; break;
		case 1: v->planes[p][a] = l; continue;
		case 2: d = expand(val, p); break;
		default: d = expand(r->gr[GR_SET_RESET], p); break;
		}
		switch ((r->gr[GR_ROTATE] >> 3) & 3) {
		case 1: d &= l; break;
		case 2: d |= l; break;
		case 3: d ^= l; break;
		default: break;
		}
		v->planes[p][a] = (uint8_t)((d & mask) | (l & ~mask));
	}
}

int vga_check(const struct vga_regs *r, char *err, size_t errlen)
{
	if (r->sr_index >= VGA_NSR || r->gr_index > 0x0f || r->ar_index > 0x3f || r->ar_flip > 1 || r->dac_sub > 2 ||
	    (r->dac_state != 0 && r->dac_state != 3) || (r->retrace & ~0x09))
		return error_set(err, errlen, -EINVAL, "VGA index or latch state out of range (sequencer %u, graphics %u, "
				 "attribute %u, flip-flop %u, DAC %u/%u)", r->sr_index, r->gr_index, r->ar_index, r->ar_flip,
				 r->dac_sub, r->dac_state);
	for (unsigned i = 0; i < VGA_NSR; i++)
		if (r->sr[i] & ~sr_mask[i])
			return error_set(err, errlen, -EINVAL, "VGA sequencer register %u = %#x", i, r->sr[i]);
	for (unsigned i = 0; i < VGA_NGR; i++)
		if (r->gr[i] & ~gr_mask[i])
			return error_set(err, errlen, -EINVAL, "VGA graphics register %u = %#x", i, r->gr[i]);
	for (unsigned i = 0; i < sizeof(r->palette); i++)
		if (r->palette[i] > 0x3f || (i < 3 && r->dac_cache[i] > 0x3f))
			return error_set(err, errlen, -EINVAL, "VGA DAC value %u past 6 bits", i);
	return 0;
}
