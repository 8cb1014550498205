/* How the VM makes the struct display of display.h (display.c): one per VM with a "display"
 * section, over its screen device and its input devices. Not for the readers of display.h. */
#ifndef PETREL_DEVICES_DISPLAY_DISPLAY_DEV_H
#define PETREL_DEVICES_DISPLAY_DISPLAY_DEV_H

#include "devices/display/display.h"

struct bochs;
struct i8042;
struct virtio_input;

/* The screen (fb), the PS/2 keyboard and mouse on the i8042 (kbd), the tablet or NULL.
 * NULL on allocation failure. */
struct display *display_new(struct bochs *fb, struct i8042 *kbd, struct virtio_input *tablet);
void display_free(struct display *d);

#endif
