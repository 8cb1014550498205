/* A PS/2 mouse on the i8042's aux port: its commands (reset, identify, sample rate, stream
 * and remote mode, resolution, scaling, status) and its movement packets, 3 bytes, or 4 once
 * the driver found the wheel (IntelliMouse: rates 200, 100, 80) or the wheel and two more
 * buttons (200, 200, 80). Guarded by the i8042's lock; its queue is the aux port's. */
#ifndef PETREL_DEVICES_LEGACY_PS2_MOUSE_H
#define PETREL_DEVICES_LEGACY_PS2_MOUSE_H

#include "devices/legacy/ps2_queue.h"

#include <stdbool.h>
#include <stdint.h>

struct ps2_mouse_state {
	struct ps2_queue q;
	uint8_t pending;       /* a command waiting for its argument (0xe8, 0xf3), or 0 */
	uint8_t id;            /* 0, 3 (wheel) or 4 (wheel and buttons 4, 5) */
	uint8_t rate, resolution;
	uint8_t rates[3];      /* the last sample rates set, newest last (the wheel's knock) */
	bool reporting, remote, wrap, scale21;
	uint8_t buttons;       /* held now: bit 0 left, 1 right, 2 middle (the packet's order) */
	int32_t dx, dy, dz;    /* motion not sent yet (dy up, as the packet counts it) */
};

void ps2_mouse_reset(struct ps2_mouse_state *m);
/* A byte the driver sends to the mouse (i8042 command 0xd4 and its data). */
void ps2_mouse_write(struct ps2_mouse_state *m, uint8_t b);
/* Motion and buttons from the host (dy down, as on the screen; dz > 0 is the wheel towards
 * the user); sent as packets while the mouse reports and its queue has room, the rest kept.
 * Returns whether anything was queued. */
bool ps2_mouse_move(struct ps2_mouse_state *m, int32_t dx, int32_t dy, int32_t dz, uint8_t buttons);
/* Send what is kept (after the driver read some of the queue). */
bool ps2_mouse_flush(struct ps2_mouse_state *m);
/* A saved state's values: 0, or -EINVAL (why in err). */
int ps2_mouse_check(const struct ps2_mouse_state *m, char *err, size_t errlen);

#endif
