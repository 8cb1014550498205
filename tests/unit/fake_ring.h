/* A virtio driver written by the test, for device unit tests without KVM: guest memory is a
 * heap buffer (MEM_SIZE bytes), queue q's rings sit at 0x1000 + 0x3000 q (descriptors, avail
 * and used one page apart, QS entries each), and the test publishes chains and reads the used
 * ring as a driver would. Included by one test file each (its state is per file). */
#ifndef PETREL_TESTS_UNIT_FAKE_RING_H
#define PETREL_TESTS_UNIT_FAKE_RING_H

#include "../fake_driver.h"
#include "devices/virtio/virtio.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifndef MEM_SIZE
#define MEM_SIZE (1u << 20)   /* a test may ask for more before including this */
#endif
#define QS 16

static struct guest_mem mem;
static uint8_t *ram;

/* Zeroed guest memory (made once per test binary: page-aligned anonymous memory, as a VM's,
 * so madvise works on it); logging off. */
static inline void mem_setup(void)
{
	if (!ram) {
		void *p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			abort();
		ram = p;
		mem.regions[0] = (struct guest_region){ 0, MEM_SIZE, ram };
		mem.nregions = 1;
		mem.total = MEM_SIZE;
		log_set_level(LOG_OFF);
	}
	memset(ram, 0, MEM_SIZE);
}

static inline uint64_t qdesc(unsigned q) { return fake_driver_desc(0x1000, q); }
static inline uint16_t *qavail(unsigned q) { return (uint16_t *)(ram + qdesc(q) + 0x1000); }
static inline uint8_t *qused(unsigned q) { return ram + qdesc(q) + 0x2000; }
static inline uint16_t used_idx(unsigned q) { uint16_t v; memcpy(&v, qused(q) + 2, 2); return v; }

static inline struct virtq_used_elem used_elem(unsigned q, unsigned i)
{
	struct virtq_used_elem e;
	memcpy(&e, qused(q) + 4 + 8 * (i % QS), 8);
	return e;
}

static inline void set_desc(unsigned q, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
			    uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };
	memcpy(ram + qdesc(q) + 16 * i, &d, 16);
}

static inline void publish(unsigned q, uint16_t head)
{
	uint16_t *a = qavail(q);
	a[2 + a[1] % QS] = head;
	a[1]++;
}

/* The driver negotiates `features`, sets up queues 0..nq-1 and says DRIVER_OK. */
static inline void start(struct virtio_dev *d, uint64_t features, unsigned nq)
{
	fake_driver_start(d, features, nq, 0x1000, QS);
}

/* The driver's queue notification, as the transport delivers it (device lock held). */
static inline void notify(struct virtio_dev *d, unsigned q)
{
	pthread_mutex_lock(&d->lock);
	d->ops->queue_notify(d, q);
	pthread_mutex_unlock(&d->lock);
}

#endif
