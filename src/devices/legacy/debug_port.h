/* Test-only ports, present with --debug-exit:
 *   0xF4  debug exit: writing v ends the VM and petrel exits with status v & 0xff
 *   0xF5  null device: writes are dropped, reads return 0 (exit round-trip benchmarks) */
#ifndef PETREL_DEVICES_LEGACY_DEBUG_PORT_H
#define PETREL_DEVICES_LEGACY_DEBUG_PORT_H

#include "devices/power.h"

#include <stdint.h>

#define DEBUG_EXIT_PORT 0xf4
#define DEBUG_NULL_PORT 0xf5

struct debug_port {
	struct power_ctl power;
};

void debug_port_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void debug_port_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

#endif
