/* Unit tests for the firmware image (src/memory/rom.c): which sizes are images, its copy below
 * 1 MiB (as at power-on and every reset), and the MMIO range over it that drops writes. The
 * read-only KVM slot itself is mapped by firmware boots (tests that need KVM). No KVM here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memory/rom.h"
#include "util/log.h"
#include "unit.h"

#define MEM_SIZE (2u << 20)

static uint8_t *image(size_t size)
{
	uint8_t *p = malloc(size);
	for (size_t i = 0; i < size; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 16));
	return p;
}

TEST(rom_sizes)
{
	struct rom r;
	char err[256] = "";
	uint8_t *img = image(ROM_MAX_SIZE + ROM_ALIGN);
	CHECK_EQ(rom_load(&r, img, 0, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "not 0 bytes");
	CHECK_EQ(rom_load(&r, img, 256 * 1024 + 1, err, sizeof(err)), -EINVAL);
	CHECK_EQ(rom_load(&r, img, 4096 + 512, err, sizeof(err)), -EINVAL);
	CHECK_EQ(rom_load(&r, img, ROM_MAX_SIZE + ROM_ALIGN, err, sizeof(err)), -EINVAL);
	CHECK_NULL(r.map);
	rom_unmap(&r);                               /* nothing to undo */
	CHECK_EQ(rom_load(&r, img, ROM_MAX_SIZE, err, sizeof(err)), 0);
	rom_unmap(&r);
	CHECK_EQ(rom_load(&r, img, 256 * 1024, err, sizeof(err)), 0);
	CHECK_EQ(r.size, 256 * 1024);
	CHECK(memcmp(r.map, img, r.size) == 0);
	rom_unmap(&r);
	/* rom_map checks the image and the place before it asks KVM anything */
	CHECK_EQ(rom_map(&r, NULL, ROM_TOP - 256 * 1024, img, 1000, err, sizeof(err)), -EINVAL);
	CHECK_EQ(rom_map(&r, NULL, ROM_TOP - 256 * 1024 + 1, img, 256 * 1024, err, sizeof(err)), -EINVAL);
	CHECK_CONTAINS(err, "not page-aligned");
	CHECK_NULL(r.map);
	CHECK_EQ(ROM_SLOT, 36);
	free(img);
}

TEST(rom_copy_low_fills_e0000)
{
	struct guest_mem m = { 0 };
	m.regions[0] = (struct guest_region){ 0, MEM_SIZE, calloc(1, MEM_SIZE) };
	m.nregions = 1;
	m.total = MEM_SIZE;
	uint64_t bits[MEM_SIZE / 4096 / 64] = { 0 };
	m.dirty_log = true;
	m.regions[0].dirty = bits;
	struct rom r;
	char err[256];
	uint8_t *img = image(256 * 1024);
	REQUIRE_EQ(rom_load(&r, img, 256 * 1024, err, sizeof(err)), 0);
	CHECK_EQ(rom_copy_low(&r, &m), 0);
	const uint8_t *ram = m.regions[0].hva;
	CHECK(memcmp(ram + 0xe0000, img + 128 * 1024, 128 * 1024) == 0);
	CHECK_EQ(ram[0xdffff], 0);
	/* the reset vector's bytes are where the CPU's first far jump lands */
	CHECK_EQ(ram[0xffff0], img[256 * 1024 - 16]);
	/* the pages are marked for dirty tracking: 0xe0..0xff */
	CHECK_EQ_HEX(bits[3], 0xffffffff00000000ull);
	/* the guest changed its shadow copy; a reset copies again */
	m.regions[0].hva[0xf0000] ^= 0xff;
	CHECK_EQ(rom_copy_low(&r, &m), 0);
	CHECK_EQ(ram[0xf0000], img[128 * 1024 + 0x10000]);
	rom_unmap(&r);
	/* a 64 KiB image: all of it, at 0xF0000 */
	REQUIRE_EQ(rom_load(&r, img, 64 * 1024, err, sizeof(err)), 0);
	memset(m.regions[0].hva, 0, MEM_SIZE);
	CHECK_EQ(rom_copy_low(&r, &m), 0);
	CHECK(memcmp(ram + 0xf0000, img, 64 * 1024) == 0);
	CHECK_EQ(ram[0xeffff], 0);
	rom_unmap(&r);
	/* not RAM there */
	struct guest_mem small = { 0 };
	small.regions[0] = (struct guest_region){ 0, 0xa0000, m.regions[0].hva };
	small.nregions = 1;
	REQUIRE_EQ(rom_load(&r, img, 128 * 1024, err, sizeof(err)), 0);
	CHECK_EQ(rom_copy_low(&r, &small), -EFAULT);
	rom_unmap(&r);
	CHECK_EQ(rom_copy_low(&r, &m), -EINVAL);      /* no image */
	free(img);
	free(m.regions[0].hva);
}

TEST(rom_mmio_drops_writes)
{
	struct rom r;
	char err[256];
	uint8_t *img = image(128 * 1024);
	REQUIRE_EQ(rom_load(&r, img, 128 * 1024, err, sizeof(err)), 0);
	uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	rom_mmio_write(&r, 0x100, b, 8);
	rom_mmio_write(&r, 128 * 1024 - 1, b, 1);
	CHECK_EQ(rom_writes(&r), 2);
	CHECK(memcmp(r.map, img, 128 * 1024) == 0);
	rom_mmio_read(&r, 0x100, b, 8);
	CHECK(memcmp(b, img + 0x100, 8) == 0);
	rom_mmio_read(&r, 128 * 1024 - 2, b, 4);      /* past the end reads ones */
	CHECK_EQ(b[1], img[128 * 1024 - 1]);
	CHECK_EQ(b[2], 0xff);
	rom_unmap(&r);
	free(img);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
