/* The PS/2 keyboard behind the i8042's keyboard port: its commands (reset, identify, LEDs,
 * typematic rate, scan code set, scanning on and off) and its keys, sent in scan code set 2
 * (or 1 when the guest selects it) and, with the controller's translation on, as set 1.
 * Guarded by the i8042's lock; its queue is the keyboard port's (controller replies too). */
#ifndef PETREL_DEVICES_LEGACY_PS2_KBD_H
#define PETREL_DEVICES_LEGACY_PS2_KBD_H

#include "devices/legacy/ps2_queue.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ps2_kbd_state {
	struct ps2_queue q;
	uint8_t pending;      /* a command waiting for its argument (0xed, 0xf0, 0xf3), or 0 */
	uint8_t set;          /* scan code set 1, 2 or 3 (3 is sent as 2) */
	uint8_t leds;
	bool disabled;        /* scanning off (0xf5) */
};

void ps2_kbd_reset(struct ps2_kbd_state *k);
/* A byte the driver sends to the keyboard (port 0x60 with no controller command pending);
 * xlate: the controller translates what the keyboard answers. */
void ps2_kbd_write(struct ps2_kbd_state *k, uint8_t b, bool xlate);
/* A key (ps2_keys.h's codes) pressed or released: 0, -ENOSPC when its bytes do not fit in the
 * queue (nothing queued), -ENOENT for no key, -EAGAIN while scanning is off. */
int ps2_kbd_key(struct ps2_kbd_state *k, uint16_t xt, bool down, bool xlate);
int ps2_kbd_check(const struct ps2_kbd_state *k, char *err, size_t errlen);

#endif
