/* ACPI Generic Event Device (ACPI0013, Linux drivers/acpi/evged.c): petrel's way to tell the
 * guest's ACPI code that something happened. One edge-triggered GSI and a 32-bit event
 * register at an I/O port: petrel sets event bits and pulses the GSI; the DSDT's _EVT method
 * reads the register (a read returns and clears the bits it covers) and runs the handler of
 * each bit set. New events (issue 14's CPU and memory hot-plug) are new bits and new If
 * blocks in _EVT (acpi.c); the GSI and the register stay. */
#ifndef PETREL_DEVICES_LEGACY_GED_H
#define PETREL_DEVICES_LEGACY_GED_H

#include "arch/x86/acpi_hw.h"
#include "devices/irq.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ged_state {
	uint32_t pending;        /* events raised and not yet read by the guest */
	uint32_t gsi;            /* what the DSDT in guest memory says: checked on restore */
	uint16_t port;
	uint8_t pad[6];
};

struct ged {
	struct ged_state st;
	pthread_mutex_t lock;
	struct irq_line irq;
	bool present;            /* false: restored from a snapshot whose guest has no GED */
};

void ged_init(struct ged *g, struct irq_line irq, uint16_t port);
/* Set event bits and pulse the GSI (an edge). Safe from any thread. */
/* The machine's reset: no event pending. */
void ged_reset(struct ged *g);
void ged_raise(struct ged *g, uint32_t events);
void ged_save(struct ged *g, struct ged_state *out);
/* The state must be this device's (its GSI and port) with known event bits; -EINVAL and why. */
int ged_restore(struct ged *g, const struct ged_state *st, char *err, size_t errlen);
void ged_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void ged_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* Its saved state (section GED; absent: the guest has no GED): devices/dev_state.h, docs/snapshots.md. */
struct dev_state_ops;
extern const struct dev_state_ops ged_state_ops;

#endif
