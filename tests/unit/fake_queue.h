/* One split virtqueue of QS entries written by the test, for the virtio core's tests
 * (test_virtqueue.c, test_virtio_mmio.c, test_virtio_pci.c): guest memory is a heap buffer
 * (MEM_SIZE bytes, made once per binary; logging off), the descriptor table, available and used
 * rings at DESC, AVAIL and USED. */
#ifndef PETREL_TESTS_UNIT_FAKE_QUEUE_H
#define PETREL_TESTS_UNIT_FAKE_QUEUE_H

#include <stdlib.h>
#include <string.h>

#include "devices/virtio/virtq.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#define MEM_SIZE (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define QS 8

static struct guest_mem mem;
static uint8_t *ram;

static inline void mem_setup(void)
{
	if (!ram) {
		ram = calloc(1, MEM_SIZE);
		mem.regions[0] = (struct guest_region){ 0, MEM_SIZE, ram };
		mem.nregions = 1;
		mem.total = MEM_SIZE;
		log_set_level(LOG_OFF);
	}
	memset(ram, 0, MEM_SIZE);
}

static inline void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };
	memcpy(ram + DESC + 16 * i, &d, 16);
}

static inline uint16_t *avail(void) { return (uint16_t *)(ram + AVAIL); }
static inline uint16_t used_idx(void) { return *(uint16_t *)(ram + USED + 2); }

static inline void publish(uint16_t idx_slot, uint16_t head)
{
	avail()[2 + (idx_slot % QS)] = head;
	avail()[1] = (uint16_t)(idx_slot + 1);
}

#endif
