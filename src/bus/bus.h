/* Address maps for port I/O and MMIO: ranges -> device callbacks.
 * Devices register at VM setup; lookups happen on every exit and take no lock
 * (the map is read-only once vCPUs run). Each device locks its own state. */
#ifndef PETREL_BUS_BUS_H
#define PETREL_BUS_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* Called with the offset from the range's base. `data` holds len bytes (1,2,4,8). */
typedef void (*bus_read_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
typedef void (*bus_write_fn)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);

struct bus_range {
	uint64_t base, len;
	const char *name;
	bus_read_fn read;
	bus_write_fn write;
	void *opaque;
};

#define BUS_MAX_RANGES 64

struct bus {
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned n;
	const char *name; /* "pio" or "mmio", for messages */
};

void bus_init(struct bus *bus, const char *name);
/* -EEXIST if it overlaps a registered range, -ENOSPC if full. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
		 bus_read_fn read, bus_write_fn write, void *opaque);
/* Dispatch an access. Returns false if no device claims the address:
 * reads then see all ones, writes are dropped (like an unclaimed ISA/PCI cycle). */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
