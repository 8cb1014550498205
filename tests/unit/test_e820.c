/* Unit tests for src/arch/x86/e820.c: the memory map a guest gets, around the EBDA, the ACPI
 * area and the MMIO hole. */
#include <stdbool.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "unit.h"
#include "boot_images.h"

TEST(e820_layout)
{
	struct guest_mem m;
	struct e820_entry map[E820_MAX];
	memset(&m, 0, sizeof(m));
	m.regions[0] = (struct guest_region){ 0, 256 * MiB, NULL };
	m.nregions = 1;
	int n = e820_build(&m, map);
	REQUIRE_EQ(n, 4);
	CHECK_EQ_HEX(map[0].addr, 0);
	CHECK_EQ_HEX(map[0].size, LAYOUT_EBDA);
	CHECK_EQ(map[0].type, E820_RAM);
	CHECK_EQ_HEX(map[1].addr, LAYOUT_EBDA);
	CHECK_EQ_HEX(map[1].addr + map[1].size, 0xa0000);
	CHECK_EQ(map[1].type, E820_RESERVED);
	CHECK_EQ_HEX(map[2].addr, LAYOUT_ACPI);
	CHECK_EQ_HEX(map[2].addr + map[2].size, LAYOUT_ACPI_END);
	CHECK_EQ(map[2].type, E820_RESERVED);
	CHECK_EQ_HEX(map[3].addr, MiB);
	CHECK_EQ_HEX(map[3].size, 255 * MiB);
	CHECK_EQ(map[3].type, E820_RAM);

	/* RAM split around the MMIO hole */
	m.regions[0] = (struct guest_region){ 0, LAYOUT_MMIO_HOLE, NULL };
	m.regions[1] = (struct guest_region){ 4 * GiB, 2 * GiB, NULL };
	m.nregions = 2;
	n = e820_build(&m, map);
	REQUIRE_EQ(n, 5);
	CHECK_EQ_HEX(map[3].addr, MiB);
	CHECK_EQ_HEX(map[3].addr + map[3].size, LAYOUT_MMIO_HOLE);
	CHECK_EQ_HEX(map[4].addr, 4 * GiB);
	CHECK_EQ_HEX(map[4].size, 2 * GiB);
	CHECK_EQ(map[4].type, E820_RAM);

	/* sorted and non-overlapping; nothing in the MMIO hole or the ACPI/EBDA areas is RAM */
	for (int i = 1; i < n; i++)
		CHECK(map[i].addr >= map[i - 1].addr + map[i - 1].size);
	for (int i = 0; i < n; i++) {
		if (map[i].type != E820_RAM)
			continue;
		uint64_t end = map[i].addr + map[i].size;
		CHECK(end <= LAYOUT_EBDA || map[i].addr >= LAYOUT_ACPI_END);
		CHECK(end <= LAYOUT_MMIO_HOLE || map[i].addr >= 4 * GiB);
	}
	/* every RAM byte the map lists is backed by a region */
	for (int i = 0; i < n; i++) {
		if (map[i].type != E820_RAM)
			continue;
		bool backed = false;
		for (unsigned j = 0; j < m.nregions; j++)
			backed |= map[i].addr >= m.regions[j].gpa &&
				  map[i].addr + map[i].size <= m.regions[j].gpa + m.regions[j].size;
		CHECK(backed);
	}
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* the loaders log why they refuse; the tests check return codes */
	return unit_main(argc, argv);
}
