/* What a display device offers to whoever shows it (the worker's VNC server, a test reader):
 * the guest's framebuffer and mode, which lines changed, and the way in for keys and the
 * pointer. No RFB here. The design contract of issue 56 (DISPLAY_DESIGN.md) fixes these names;
 * the devices behind them are in this folder (bochs-display), devices/legacy/i8042.c (the PS/2
 * keyboard and mouse) and devices/virtio/input.c (the tablet). docs/display.md. */
#ifndef PETREL_DEVICES_DISPLAY_DISPLAY_H
#define PETREL_DEVICES_DISPLAY_DISPLAY_H

#include <stdbool.h>
#include <stdint.h>

struct display;                       /* one per VM with a display device */
struct display_mode {                 /* what the guest programmed; enabled=false: nothing to show */
	bool enabled;
	uint32_t width, height, stride;   /* pixels, pixels, bytes per line */
	uint32_t bpp;                     /* 32 (XRGB8888, little endian); 16/24/8 converted or refused */
	uint64_t generation;              /* changes on every mode change */
};
/* The current mode and a pointer to the first pixel (guest RAM of the framebuffer BAR, or the
 * device's text-mode rendering for legacy VGA). Valid until the next display_mode() call. */
const uint8_t *display_frame(struct display *d, struct display_mode *mode);
/* Which lines changed since the last call: bit y of `lines` (height bits) set; found with KVM's
 * dirty log of the framebuffer's slot (plus the device's own marks for a mode change / text mode).
 * Returns the number of dirty lines, or -errno. */
int display_changed(struct display *d, uint64_t *lines, uint32_t nbits);
/* Input, from any thread: */
void display_key(struct display *d, uint16_t qcode_or_xt, bool down);   /* PC XT scan code set 1
                         (0xe0-prefixed keys as 0xe0XX), as QEMU's extended key event carries */
void display_pointer_abs(struct display *d, uint32_t x, uint32_t y, uint32_t buttons); /* 0..width-1 */
void display_pointer_rel(struct display *d, int32_t dx, int32_t dy, uint32_t buttons);

/* Added to the contract (nothing above changed): the bits of `buttons`, RFB's button mask. A
 * wheel "button" pressed is one notch. */
#define DISPLAY_BUTTON_LEFT 0x01u
#define DISPLAY_BUTTON_MIDDLE 0x02u
#define DISPLAY_BUTTON_RIGHT 0x04u
#define DISPLAY_WHEEL_UP 0x08u
#define DISPLAY_WHEEL_DOWN 0x10u

#endif
