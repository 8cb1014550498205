/* PCI configuration mechanism #1 from the unit tests (test_virtio_pci.c, test_machine_reset.c): port
 * accesses on a bus, configuration reads/writes of bus 0, function 0 of a slot, and a virtio-rng
 * function on a direct-boot bus to drive through them. */
#ifndef PETREL_TESTS_UNIT_PCI_CONF_H
#define PETREL_TESTS_UNIT_PCI_CONF_H

#include "bus/bus.h"
#include "devices/pci/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_pci.h"

static inline uint32_t pio_in(struct bus *pio, uint16_t port, unsigned len)
{
	uint8_t b[4] = { 0 };
	bus_access(pio, port, b, len, false);
	return pci_get(b, 0, len);
}

static inline void pio_out(struct bus *pio, uint16_t port, uint32_t v, unsigned len)
{
	uint8_t b[4];
	pci_put(b, 0, v, len);
	bus_access(pio, port, b, len, true);
}

static inline uint32_t cfg_rd(struct bus *pio, unsigned slot, unsigned off, unsigned len)
{
	pio_out(pio, 0xcf8, 0x80000000u | slot << 11 | (off & 0xfc), 4);
	return pio_in(pio, (uint16_t)(0xcfc + (off & 3)), len);
}

static inline void cfg_wr(struct bus *pio, unsigned slot, unsigned off, uint32_t v, unsigned len)
{
	pio_out(pio, 0xcf8, 0x80000000u | slot << 11 | (off & 0xfc), 4);
	pio_out(pio, (uint16_t)(0xcfc + (off & 3)), v, len);
}

/* A direct-boot bus (memory window at 3 GiB) with a virtio-rng function on it (mem: fake_queue.h's). */
#define PCI_RNG_SETUP(pio, mmio, pci, r, vp)                                                       \
	do {                                                                                       \
		bus_init(&(pio), "pio");                                                           \
		bus_init(&(mmio), "mmio");                                                         \
		REQUIRE_EQ(pci_bus_init(&(pci), NULL, &(pio), &(mmio), 0xc0000000, 0x10000000), 0); \
		REQUIRE_EQ(virtio_rng_create(&(r), 0, NULL, &mem, NULL), 0);                       \
		REQUIRE_EQ(virtio_pci_create(&(vp), &(r).vdev, &(pci), NULL, NULL), 0);            \
	} while (0)

#endif
