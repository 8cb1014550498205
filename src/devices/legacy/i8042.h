/* The i8042 keyboard controller: enough for firmwares' and Linux's probe, CPU reset (command
 * 0xFE), Ctrl-Alt-Del, and, with a display (docs/display.md), a PS/2 keyboard's keys and a
 * PS/2 mouse on the aux port (IRQ 12). Without one the aux port is absent, as it always was.
 *
 * One output buffer (port 0x60, status OBF, AUX_OBF when the byte is the mouse's) filled from
 * two queues: the keyboard's (its replies, its keys, and the controller's own replies) first,
 * then the mouse's. IRQ 1 and IRQ 12 are edge-triggered: each byte taken into the buffer makes
 * a new edge. */
#ifndef PETREL_DEVICES_LEGACY_I8042_H
#define PETREL_DEVICES_LEGACY_I8042_H

#include "devices/irq.h"
#include "devices/legacy/ps2_kbd.h"
#include "devices/legacy/ps2_mouse.h"
#include "devices/power.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

struct i8042_state {
	uint8_t ctr;           /* controller configuration ("command byte") */
	uint8_t status;
	uint8_t pending_cmd;   /* controller command waiting for its data byte, or 0 */
	uint8_t out;           /* the output buffer, while status has OBF */
	struct ps2_kbd_state kbd;
	struct ps2_mouse_state mouse;
	uint8_t irq_level;     /* IRQ 1 */
	uint8_t aux_irq_level; /* IRQ 12 */
};

struct i8042 {
	struct i8042_state st;
	pthread_mutex_t lock;
	struct irq_line irq, aux_irq;
	bool has_aux;          /* a PS/2 mouse on the aux port (i8042_add_mouse) */
	struct power_ctl power;
	/* Host-side counters for metrics (not guest state), under lock. */
	uint64_t read_count, write_count, reset_count, ctrl_alt_del_count;
	uint64_t keys_dropped; /* host keys the keyboard had no room for, or was not scanning */
};

void i8042_init(struct i8042 *k, struct irq_line irq, struct power_ctl power);
/* A PS/2 mouse on the aux port, interrupting on aux_irq (before the vCPUs run). */
void i8042_add_mouse(struct i8042 *k, struct irq_line aux_irq);
/* Register callbacks: ports 0x60 and 0x64 are separate ranges, the offset tells nothing,
 * so two entry points. */
void i8042_data_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void i8042_data_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
void i8042_cmd_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
/* The machine's reset: the controller and its devices as at power-on (its counters stay), the
 * lines low. */
void i8042_reset(struct i8042 *k);
/* Load saved state (bounds checked: -EINVAL and why) and drive the IRQ lines to match. */
int i8042_restore(struct i8042 *k, const struct i8042_state *st, char *err, size_t errlen);
/* Queue the scancodes of Ctrl-Alt-Del (press and release). 0 or -ENOSPC. */
int i8042_send_ctrl_alt_del(struct i8042 *k);
/* A key from the host (devices/legacy/ps2_keys.h's codes), from any thread: dropped (and
 * counted) while the keyboard is disabled or its queue is full. */
void i8042_key(struct i8042 *k, uint16_t xt, bool down);
/* Pointer motion from the host (dy down, dz > 0 the wheel towards the user; buttons bit 0
 * left, 1 right, 2 middle), from any thread: nothing without a mouse or while the driver has
 * it off. */
void i8042_mouse(struct i8042 *k, int32_t dx, int32_t dy, int32_t dz, uint8_t buttons);

/* Its saved state (section I804): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops i8042_state_ops;

#endif
