#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"
#include "util/codec.h"

#include <errno.h>
#include <stdlib.h>

int e820_build(const struct guest_mem *mem, struct e820_entry *map)
{
	int n = 0;
	map[n++] = (struct e820_entry){ 0, LAYOUT_EBDA, E820_RAM };
	map[n++] = (struct e820_entry){ LAYOUT_EBDA, 0xa0000 - LAYOUT_EBDA, E820_RESERVED };
	map[n++] = (struct e820_entry){ LAYOUT_ACPI, LAYOUT_ACPI_END - LAYOUT_ACPI, E820_RESERVED };
	for (unsigned i = 0; i < mem->nregions && n < E820_MAX; i++) {
		const struct guest_region *r = &mem->regions[i];
		if (r->hotplug)
			continue; /* virtio-mem tells the guest of its region itself */
		uint64_t start = r->gpa < LAYOUT_ACPI_END ? LAYOUT_ACPI_END : r->gpa;
		if (r->gpa + r->size > start)
			map[n++] = (struct e820_entry){ start, r->gpa + r->size - start, E820_RAM };
	}
	return n;
}

int e820_fw_cfg_file(const struct e820_entry *map, int n, uint8_t **out, uint32_t *len)
{
	if (n < 0)
		return -EINVAL;
	uint8_t *p = calloc(n ? (size_t)n : 1, E820_FW_CFG_ENTRY_LEN);
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		uint8_t *e = p + (size_t)i * E820_FW_CFG_ENTRY_LEN;
		le_store(e, map[i].addr, 8);
		le_store(e + 8, map[i].size, 8);
		le_store(e + 16, map[i].type, 4);
	}
	*out = p;
	*len = (uint32_t)n * E820_FW_CFG_ENTRY_LEN;
	return 0;
}
