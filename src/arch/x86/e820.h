/* The guest's physical memory map, as given to Linux (e820) and PVH (memmap). */
#ifndef PETREL_ARCH_X86_E820_H
#define PETREL_ARCH_X86_E820_H

#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_MAX 8

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
};

struct guest_mem;

/* Returns the number of entries written to map (at most E820_MAX). */
int e820_build(const struct guest_mem *mem, struct e820_entry *map);

#endif
