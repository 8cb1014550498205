/* The EDID block a display device shows its driver (bochs-display's MMIO BAR at 0): a monitor
 * named "petrel" whose preferred mode is the definition's width x height at 60 Hz, with the
 * VESA modes up to it. OVMF's QemuVideoDxe and Linux's bochs driver take their resolution
 * from it. */
#ifndef PETREL_DEVICES_DISPLAY_EDID_H
#define PETREL_DEVICES_DISPLAY_EDID_H

#include <stdint.h>

#define EDID_SIZE 128

/* Fill one EDID 1.4 base block (checksummed) for a width x height panel (1..4095 each). */
void edid_build(uint8_t out[EDID_SIZE], uint32_t width, uint32_t height);

#endif
