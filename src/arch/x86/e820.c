#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"

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
