/* i8042 keyboard controller: enough for Linux's probe, CPU reset (command 0xFE),
 * and injecting Ctrl-Alt-Del. No mouse (aux) port. */
#ifndef PETREL_DEVICES_LEGACY_I8042_H
#define PETREL_DEVICES_LEGACY_I8042_H

#include "devices/irq.h"
#include "devices/power.h"

#include <pthread.h>
#include <stdint.h>

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1
#define I8042_QUEUE_LEN 16

struct i8042_state {
	uint8_t ctr;           /* controller configuration ("command byte") */
	uint8_t status;
	uint8_t pending_cmd;   /* controller command waiting for its data byte, or 0 */
	uint8_t kbd_pending;   /* keyboard command waiting for its argument, or 0 */
	uint8_t outq[I8042_QUEUE_LEN];
	uint8_t out_head, out_count;
	uint8_t irq_level;
};

struct i8042 {
	struct i8042_state st;
	pthread_mutex_t lock;
	struct irq_line irq;
	struct power_ctl power;
	/* Host-side counters for metrics (not guest state), under lock. */
	uint64_t read_count, write_count, reset_count, ctrl_alt_del_count;
};

void i8042_init(struct i8042 *k, struct irq_line irq, struct power_ctl power);
/* Register callbacks: ports 0x60 and 0x64 are separate ranges, the offset tells nothing,
 * so two entry points. */
void i8042_data_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void i8042_data_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
void i8042_cmd_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void i8042_cmd_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
/* Load saved state (queue bounds checked: -EINVAL and why) and drive the IRQ line to match. */
/* The machine's reset: the controller as at power-on (its counters stay), the line low. */
void i8042_reset(struct i8042 *k);
int i8042_restore(struct i8042 *k, const struct i8042_state *st, char *err, size_t errlen);
/* Queue the scancodes of Ctrl-Alt-Del (press and release). 0 or -ENOSPC. */
int i8042_send_ctrl_alt_del(struct i8042 *k);

/* Its saved state (section I804): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops i8042_state_ops;

#endif
