/* Unit tests for src/arch/x86/e820.c: the memory map a guest gets, around the EBDA, the ACPI
 * area and the MMIO hole; and its bytes in fw_cfg's "etc/e820". */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "memory/guest_mem.h"
#include "util/codec.h"
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

/* etc/e820: packed le64 address, le64 length, le32 type, as SeaBIOS's qemu_early_e820 reads it. */
TEST(e820_fw_cfg_bytes)
{
	const struct e820_entry map[] = {
		{ 0, 0x80000000ull, E820_RAM },
		{ 0xfeffc000ull, 0x4000, E820_RESERVED },
		{ 4 * GiB, 0x123456789ull, E820_RAM },
	};
	uint8_t *p = NULL;
	uint32_t len = 0;
	REQUIRE_EQ(e820_fw_cfg_file(map, 3, &p, &len), 0);
	REQUIRE_EQ(len, 3 * E820_FW_CFG_ENTRY_LEN);
	CHECK_EQ(E820_FW_CFG_ENTRY_LEN, 20);
	for (int i = 0; i < 3; i++) {
		const uint8_t *e = p + 20 * i;
		CHECK_EQ_HEX(le_load(e, 8), map[i].addr);
		CHECK_EQ_HEX(le_load(e + 8, 8), map[i].size);
		CHECK_EQ(le_load(e + 16, 4), map[i].type);
	}
	CHECK_EQ(p[20 + 16], E820_RESERVED);
	CHECK_EQ(p[40 + 12], 0x01); /* the high half of the length 0x1_2345_6789 */
	free(p);
	REQUIRE_EQ(e820_fw_cfg_file(map, 0, &p, &len), 0);
	CHECK_EQ(len, 0);
	free(p);
	CHECK_EQ(e820_fw_cfg_file(map, -1, &p, &len), -EINVAL);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* the loaders log why they refuse; the tests check return codes */
	return unit_main(argc, argv);
}
