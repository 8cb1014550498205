/* Address maps for port I/O and MMIO: ranges -> device callbacks.
 * Devices register at VM setup. A range may be moved or switched off while vCPUs run (a chipset
 * register that places a device, PIIX4's PMBA): lookups happen on every exit and take no lock;
 * they read the map under a sequence count (bus->seq) that a move makes odd while it rewrites
 * a range, and retry when it changed. A device's callback may therefore still run once, just
 * after a move, for an access that looked the map up before it: as if the access came first.
 * Each device locks its own state. */
#ifndef PETREL_BUS_BUS_H
#define PETREL_BUS_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* Called with the offset from the range's base. `data` holds len bytes (1,2,4,8). */
typedef void (*bus_read_fn)(void *opaque, uint64_t offset, uint8_t *data, uint32_t len);
typedef void (*bus_write_fn)(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len);

struct bus_range {
	uint64_t base;        /* atomic (relaxed, under bus->seq): bus_move changes it */
	uint64_t len;
	bool on;              /* atomic (relaxed, under bus->seq): decodes at all */
	const char *name;
	bus_read_fn read;
	bus_write_fn write;
	void *opaque;
};

#define BUS_MAX_RANGES 64

struct bus {
	struct bus_range ranges[BUS_MAX_RANGES];
	unsigned n;           /* atomic: ranges[0, n) are published (release on register) */
	unsigned seq;         /* atomic: odd while a writer changes the map (writers take it by
			       * compare-and-swap from even to odd: they exclude each other) */
	const char *name; /* "pio" or "mmio", for messages */
};

void bus_init(struct bus *bus, const char *name);
/* -EEXIST if it overlaps a decoding range, -ENOSPC if full. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, const char *name,
		 bus_read_fn read, bus_write_fn write, void *opaque);
/* Move the range registered with (read, opaque) to new_base, decoding or not (`on`); safe while
 * vCPUs run. -ENOENT if there is no such range, -EINVAL if it would wrap, -EEXIST if with `on`
 * it would overlap another decoding range (it then stops decoding: the two devices never
 * answer the same address). */
int bus_move(struct bus *bus, bus_read_fn read, void *opaque, uint64_t new_base, bool on);
/* Dispatch an access. Returns false if no device claims the address:
 * reads then see all ones, writes are dropped (like an unclaimed ISA/PCI cycle). */
bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);

#endif
