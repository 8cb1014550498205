/* stdvga (QEMU's `-device VGA`, PCI 1234:1111 class 0300): bochs-display's device (bochs.h:
 * the framebuffer BAR, the DISPI registers, the EDID block) plus the legacy VGA of vga.h, for
 * SeaBIOS's VGA BIOS (Debian's vgabios-stdvga.bin, given to the firmware as the device's
 * option ROM through fw_cfg) and a BIOS boot loader's text console:
 *
 * - the VGA ports 0x3B0-0x3DF, and the same at 0x400-0x41F of BAR 2 (for 0x3C0-0x3DF, as QEMU);
 * - the DISPI registers also through the ports 0x1CE (index) and 0x1CF (data), VGABIOS's way;
 * - the window 0xA0000-0xBFFFF (guest RAM has a hole there: guest_mem_hole_vga), the VGA's
 *   planes, or video memory's bank (DISPI BANK) while a VBE mode is on and the window is 64 KiB;
 * - display.h's frame: the VBE mode while DISPI is enabled, else the text mode drawn in
 *   petrel's font into a buffer of the device's; the lines that changed are found by drawing
 *   again and comparing (text mode is small: 720x400 pixels for 80x25).
 *
 * Graphics modes of the legacy VGA (mode 12h, 13h) are not shown. docs/display.md#stdvga. */
#ifndef PETREL_DEVICES_DISPLAY_STDVGA_H
#define PETREL_DEVICES_DISPLAY_STDVGA_H

#include "devices/display/display.h"
#include "devices/display/vga.h"

#include <stdbool.h>
#include <stdint.h>

struct bochs;
struct bus;

#define STDVGA_DISPI_PORT 0x1ce
#define STDVGA_DISPI_PORT_LEN 3     /* 0x1CE index, 0x1CF data (0x1D0: data, as QEMU) */
#define STDVGA_MMIO_VGA 0x400       /* BAR 2: the ports 0x3C0-0x3DF */
#define STDVGA_MMIO_VGA_LEN 0x20
#define STDVGA_ROM_NAME "pci1234,1111.rom"   /* SeaBIOS's fw_cfg name for the device's ROM */

struct stdvga {
	struct vga vga;
	uint16_t dispi_index;         /* what port 0x1CE selected */
	struct vga_text_geom geom;    /* what fb holds now (width 0: nothing drawn yet) */
	bool stale;                   /* the guest wrote to the VGA since fb was drawn */
	uint32_t *fb;                 /* the text screen: VGA_TEXT_MAX_WIDTH x VGA_TEXT_MAX_HEIGHT */
	uint32_t line[VGA_TEXT_MAX_WIDTH];
	uint64_t pending[VGA_TEXT_MAX_HEIGHT / 64];  /* lines changed, not reported yet */
};

/* Give b (made by bochs_create) its legacy VGA. 0 or -ENOMEM. */
int stdvga_create(struct bochs *b);
void stdvga_destroy(struct bochs *b);
/* The machine's reset (b's lock held). */
void stdvga_reset(struct bochs *b);
/* Register the ports and the window on the VM's buses. 0 or -errno. */
int stdvga_attach(struct bochs *b, struct bus *pio, struct bus *mmio);

/* With b's lock held: whether the legacy VGA is what shows (DISPI is off), and then the frame
 * (*pixels NULL when nothing can be shown) and its changed lines. */
bool stdvga_showing(const struct bochs *b);
const uint8_t *stdvga_frame(struct bochs *b, struct display_mode *mode);
int stdvga_changed(struct bochs *b, uint64_t *lines, uint32_t nbits);
/* BAR 2's 0x400-0x41F, b's lock held. */
uint8_t stdvga_mmio_read(struct bochs *b, unsigned off);
void stdvga_mmio_write(struct bochs *b, unsigned off, uint8_t val);

#endif
