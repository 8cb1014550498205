/* The DISPI register file: see dispi.h. */
#include "devices/display/dispi.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

void dispi_init(struct dispi_state *s)
{
	memset(s, 0, sizeof(*s));
	s->regs[DISPI_INDEX_ID] = DISPI_ID5;
}

uint16_t dispi_read(const struct dispi_state *s, unsigned index, uint64_t vram)
{
	bool caps = s->regs[DISPI_INDEX_ENABLE] & DISPI_GETCAPS;
	switch (index) {
	case DISPI_INDEX_XRES: return caps ? DISPI_MAX_XRES : s->regs[index];
	case DISPI_INDEX_YRES: return caps ? DISPI_MAX_YRES : s->regs[index];
	case DISPI_INDEX_BPP: return caps ? DISPI_MAX_BPP : s->regs[index];
	case DISPI_INDEX_VIDEO_MEMORY_64K: return (uint16_t)(vram >> 16 > 0xffff ? 0xffff : vram >> 16);
	default: return index < DISPI_NREGS ? s->regs[index] : 0;
	}
}

static bool bpp_known(uint16_t v)
{
	return v == 4 || v == 8 || v == 15 || v == 16 || v == 24 || v == 32;
}

bool dispi_write(struct dispi_state *s, unsigned index, uint16_t v)
{
	uint16_t *r = s->regs;
	switch (index) {
	case DISPI_INDEX_ID:
		if (v >= DISPI_ID0 && v <= DISPI_ID5)
			r[index] = v;
		return false;
	case DISPI_INDEX_XRES:
		if (v <= DISPI_MAX_XRES)
			r[index] = v;
		return false;
	case DISPI_INDEX_YRES:
		if (v <= DISPI_MAX_YRES)
			r[index] = v;
		return false;
	case DISPI_INDEX_BPP:
		if (v == 0)
			v = 8;
		if (bpp_known(v))
			r[index] = v;
		return false;
	case DISPI_INDEX_ENABLE: {
		bool was = r[index] & DISPI_ENABLED, now = v & DISPI_ENABLED;
		r[index] = v;
		if (!now || was)
			return false;
		/* enabling: the whole memory is one screen wide, shown from its start */
		r[DISPI_INDEX_VIRT_WIDTH] = r[DISPI_INDEX_XRES];
		r[DISPI_INDEX_VIRT_HEIGHT] = r[DISPI_INDEX_YRES];
		r[DISPI_INDEX_X_OFFSET] = r[DISPI_INDEX_Y_OFFSET] = 0;
		return !(v & DISPI_NOCLEARMEM);
	}
	case DISPI_INDEX_BANK: case DISPI_INDEX_VIRT_WIDTH: case DISPI_INDEX_VIRT_HEIGHT:
	case DISPI_INDEX_X_OFFSET: case DISPI_INDEX_Y_OFFSET:
		r[index] = v;
		return false;
	default: /* VIDEO_MEMORY_64K is read-only, the rest does not exist */
		return false;
	}
}

int dispi_mode(const struct dispi_state *s, uint64_t vram, struct dispi_mode *m, char *why, size_t whylen)
{
	const uint16_t *r = s->regs;
	memset(m, 0, sizeof(*m));
	if (!(r[DISPI_INDEX_ENABLE] & DISPI_ENABLED))
		return 0;
	uint32_t w = r[DISPI_INDEX_XRES], h = r[DISPI_INDEX_YRES], bpp = r[DISPI_INDEX_BPP];
	if (bpp != 32)
		return error_set(why, whylen, -EINVAL, "a depth of %u bits per pixel (only 32 is shown)", bpp);
	if (!w || !h)
		return error_set(why, whylen, -EINVAL, "a resolution of %ux%u", w, h);
	uint32_t vw = r[DISPI_INDEX_VIRT_WIDTH] > w ? r[DISPI_INDEX_VIRT_WIDTH] : w;
	uint64_t stride = (uint64_t)vw * 4;
	uint64_t offset = (uint64_t)r[DISPI_INDEX_Y_OFFSET] * stride + (uint64_t)r[DISPI_INDEX_X_OFFSET] * 4;
	/* the last byte shown: line h-1's pixel w-1 */
	uint64_t end = offset + (uint64_t)(h - 1) * stride + (uint64_t)w * 4;
	if ((uint64_t)r[DISPI_INDEX_X_OFFSET] + w > vw || end > vram)
		return error_set(why, whylen, -EINVAL,
				 "%ux%u with a virtual width of %u at offset (%u, %u) needs %llu bytes of video "
				 "memory, the device has %llu", w, h, vw, r[DISPI_INDEX_X_OFFSET], r[DISPI_INDEX_Y_OFFSET],
				 (unsigned long long)end, (unsigned long long)vram);
	*m = (struct dispi_mode){ true, w, h, bpp, (uint32_t)stride, offset };
	return 0;
}

int dispi_check(const struct dispi_state *s, char *err, size_t errlen)
{
	const uint16_t *r = s->regs;
	if (r[DISPI_INDEX_ID] < DISPI_ID0 || r[DISPI_INDEX_ID] > DISPI_ID5)
		return error_set(err, errlen, -EINVAL, "DISPI ID %#x is no version of the interface", r[DISPI_INDEX_ID]);
	if (r[DISPI_INDEX_XRES] > DISPI_MAX_XRES || r[DISPI_INDEX_YRES] > DISPI_MAX_YRES)
		return error_set(err, errlen, -EINVAL, "DISPI resolution %ux%u is past %ux%u",
				 r[DISPI_INDEX_XRES], r[DISPI_INDEX_YRES], DISPI_MAX_XRES, DISPI_MAX_YRES);
	if (r[DISPI_INDEX_BPP] && !bpp_known(r[DISPI_INDEX_BPP]))
		return error_set(err, errlen, -EINVAL, "DISPI depth %u bits per pixel", r[DISPI_INDEX_BPP]);
	if (r[DISPI_INDEX_VIDEO_MEMORY_64K])
		return error_set(err, errlen, -EINVAL, "DISPI video memory register %#x (read-only: 0)",
				 r[DISPI_INDEX_VIDEO_MEMORY_64K]);
	return 0;
}
