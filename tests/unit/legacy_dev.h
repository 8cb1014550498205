/* The legacy-device tests (test_serial.c, test_i8042.c, test_power_ports.c, test_bus.c): an
 * irq_line with kvm == NULL, which does nothing (the tests watch st.irq_level instead), and a
 * power_ctl that records the stop requests a device makes. */
#ifndef PETREL_TESTS_UNIT_LEGACY_DEV_H
#define PETREL_TESTS_UNIT_LEGACY_DEV_H

#include <stdio.h>
#include <string.h>

#include "devices/irq.h"
#include "devices/power.h"

static const struct irq_line NO_IRQ = { .kvm = NULL, .gsi = 0 };

/* ---- a power_ctl that records requests ---- */

struct power_rec {
	int n;
	enum vm_stop_reason reason;
	int code;
	char why[128];
};

static inline void rec_request(void *opaque, enum vm_stop_reason reason, int code, const char *why)
{
	struct power_rec *p = opaque;
	p->n++;
	p->reason = reason;
	p->code = code;
	snprintf(p->why, sizeof(p->why), "%s", why ? why : "");
}

static inline struct power_ctl recorder(struct power_rec *p)
{
	memset(p, 0, sizeof(*p));
	return (struct power_ctl){ .request = rec_request, .opaque = p };
}

#endif
