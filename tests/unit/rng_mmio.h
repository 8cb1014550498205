/* A virtio-rng device on virtio-mmio at 0xd0000000 (IRQ 20) over fake_queue.h's guest memory,
 * for tests of the transport and of device state: 0, or -errno. */
#ifndef PETREL_TESTS_UNIT_RNG_MMIO_H
#define PETREL_TESTS_UNIT_RNG_MMIO_H

#include "fake_queue.h"

#include "bus/bus.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_mmio.h"

static inline int rng_on_mmio(struct virtio_rng *r, const struct rate_limiter_config *rl, struct virtio_mmio *m,
			      struct bus *bus)
{
	mem_setup();
	int e = virtio_rng_create(r, 0, rl, &mem, NULL);
	if (e < 0)
		return e;
	bus_init(bus, "mmio");
	return virtio_mmio_create(m, &r->vdev, bus, 0xd0000000, 20, NULL, NULL);
}

#endif
