/* The Bochs VBE "DISPI" register file that QEMU's bochs-display and stdvga share: the guest
 * picks a resolution, a depth, a virtual width and a panning offset; the device turns them
 * into a mode over its video memory. Pure logic (no lock, no PCI, no memory): bochs.c calls it
 * under its lock, the fuzz target fuzz_dispi and tests/unit/test_dispi.c directly.
 *
 * Everything the guest writes is kept as written (a driver reads its registers back), and
 * refused where it is used: dispi_mode says why a mode cannot be shown (a depth other than 32,
 * a zero or oversized resolution, a virtual width or an offset that reaches past the video
 * memory), and the device shows nothing for it. docs/display.md. */
#ifndef PETREL_DEVICES_DISPLAY_DISPI_H
#define PETREL_DEVICES_DISPLAY_DISPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	DISPI_INDEX_ID, DISPI_INDEX_XRES, DISPI_INDEX_YRES, DISPI_INDEX_BPP, DISPI_INDEX_ENABLE,
	DISPI_INDEX_BANK, DISPI_INDEX_VIRT_WIDTH, DISPI_INDEX_VIRT_HEIGHT, DISPI_INDEX_X_OFFSET,
	DISPI_INDEX_Y_OFFSET, DISPI_INDEX_VIDEO_MEMORY_64K,
	DISPI_NREGS
};

#define DISPI_ID0 0xb0c0
#define DISPI_ID5 0xb0c5
#define DISPI_ENABLED 0x01
#define DISPI_GETCAPS 0x02
#define DISPI_8BIT_DAC 0x20
#define DISPI_LFB_ENABLED 0x40
#define DISPI_NOCLEARMEM 0x80
#define DISPI_MAX_XRES 16000   /* what GETCAPS reports, as QEMU (a mode must still fit in memory) */
#define DISPI_MAX_YRES 12000
#define DISPI_MAX_BPP 32

struct dispi_state {
	uint16_t regs[DISPI_NREGS];   /* as the guest wrote them (VIDEO_MEMORY_64K unused: read-only) */
};

/* A mode the registers describe over `vram` bytes of video memory. */
struct dispi_mode {
	bool enabled;
	uint32_t width, height, bpp;
	uint32_t stride;              /* bytes per line: the virtual width's */
	uint64_t offset;              /* of the first shown pixel in video memory */
};

/* Power-on: the ID register at DISPI_ID5, everything else 0 (disabled). */
void dispi_init(struct dispi_state *s);
uint16_t dispi_read(const struct dispi_state *s, unsigned index, uint64_t vram);
/* A write of `index`: what the driver may write is stored (the ID only to a known version, a
 * resolution only up to the maxima and a multiple of 8 pixels wide, a depth only 8/15/16/24/32);
 * enabling resets the virtual size and the offsets as VBE does. Returns true when video memory
 * is to be cleared (the mode was enabled without NOCLEARMEM). */
bool dispi_write(struct dispi_state *s, unsigned index, uint16_t v);
/* The mode the registers describe: 0 with m filled (m->enabled false: the guest has it off),
 * or -EINVAL with why (naming the value) for one that cannot be shown. */
int dispi_mode(const struct dispi_state *s, uint64_t vram, struct dispi_mode *m, char *why, size_t whylen);
/* A saved register file (the device's state) against the rules dispi_write keeps: 0 or -EINVAL
 * and why. */
int dispi_check(const struct dispi_state *s, char *err, size_t errlen);

#endif
