/* Unit tests for src/boot's entry points: where the initrd is placed, and boot_load with
 * kernels from files on disk (bzImage or PVH ELF told apart, missing files). No KVM. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "boot/boot.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "unit.h"
#include "boot_images.h"

/* ---- initrd placement ---- */

TEST(place_initrd)
{
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 0, ~0ull), 64 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4097, 0, ~0ull), 64 * MiB - 8192);
	CHECK_EQ_HEX(boot_place_initrd(&m, 1, 0, ~0ull), 64 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 100, 0, 32 * MiB), 32 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 100, 0, 32 * MiB + 100), 32 * MiB);
	CHECK_EQ_HEX(boot_place_initrd(&m, 64 * MiB, 0, ~0ull), 0);       /* all of RAM: at 0 */
	CHECK_EQ_HEX(boot_place_initrd(&m, 64 * MiB + 1, 0, ~0ull), 0);
	CHECK_EQ_HEX(boot_place_initrd(&m, 0, 0, ~0ull), 0);
	/* the floor */
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 64 * MiB - 4096, ~0ull), 64 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 64 * MiB - 4095, ~0ull), 0);
	CHECK_EQ_HEX(boot_place_initrd(&m, 8 * MiB, 60 * MiB, ~0ull), 0);
	/* a limit below the length */
	CHECK_EQ_HEX(boot_place_initrd(&m, 8192, 0, 4096), 0);
	for (uint64_t len = 1; len < 100000; len += 997) {
		uint64_t a = boot_place_initrd(&m, len, MiB, 48 * MiB + 17);
		CHECK(a % 4096 == 0);
		CHECK(a >= MiB);
		CHECK(a + len <= 48 * MiB + 17);
		CHECK(a + len + 4096 > 48 * MiB + 17 - 4096); /* as high as it goes */
	}
	mem_free(&m);

	/* Only RAM below 4 GiB counts. */
	mem_init2(&m, 16 * MiB, 16 * MiB);
	CHECK_EQ_HEX(boot_place_initrd(&m, 4096, 0, ~0ull), 16 * MiB - 4096);
	CHECK_EQ_HEX(boot_place_initrd(&m, 20 * MiB, 0, ~0ull), 0);
	mem_free(&m);
}

/* ---- boot_load: files on disk, format detection ---- */

TEST(boot_load_detects_format)
{
	struct guest_mem m;
	struct boot_info bi;
	mem_init(&m, 32 * MiB);

	struct bz b = bz_make(BZ_PAYLOAD);
	char *kb = write_temp(b.img, b.len);
	static struct elf e;
	elf_make(&e);
	char *ke = write_temp(e.buf, e.len);
	char *junk = write_temp("hello, world: not a kernel at all", 33);
	uint8_t rd[100] = { 1, 2, 3 };
	char *initrd = write_temp(rd, sizeof(rd));

	CHECK_EQ(boot_load(&m, kb, initrd, "a=b", NULL, 0, 0xe0000, BOOT_DECOMPRESS_HOST, true, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_LINUX64);
	CHECK_EQ(rd32(gp(&m, LAYOUT_ZERO_PAGE) + 0x21c), sizeof(rd));
	CHECK_EQ(boot_load(&m, ke, NULL, "a=b", NULL, 0, 0xe0000, BOOT_DECOMPRESS_HOST, true, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_PVH);
	CHECK_EQ_HEX(bi.entry, PVH_ENTRY);
	CHECK_EQ(boot_load(&m, junk, NULL, "", NULL, 0, 0, BOOT_DECOMPRESS_HOST, true, &bi), -EINVAL);
	CHECK_EQ(boot_load(&m, "/nonexistent/petrel-kernel", NULL, "", NULL, 0, 0, BOOT_DECOMPRESS_HOST, true, &bi), -ENOENT);
	CHECK_EQ(boot_load(&m, kb, "/nonexistent/petrel-initrd", "", NULL, 0, 0, BOOT_DECOMPRESS_HOST, true, &bi), -ENOENT);

	remove_temp(kb);
	remove_temp(ke);
	remove_temp(junk);
	remove_temp(initrd);
	free(b.img);
	mem_free(&m);
}

/* --initrd-unpack: the initrd the kernel finds is the file's archive decompressed by petrel,
 * or the file itself with the option off. */
TEST(boot_load_unpacks_a_gzip_initrd)
{
	struct guest_mem m;
	struct boot_info bi;
	mem_init(&m, 32 * MiB);
	struct bz b = bz_make(BZ_PAYLOAD);
	char *kb = write_temp(b.img, b.len);
	/* a newc archive holding just its trailer, and the same gzip-compressed (gzip -n) */
	static const char cpio[] = "0707010000000000000000000000000000000000000001000000000000"
				   "0000000000000000000000000000000000000000000B00000000TRAILER!!!\0\0\0";
	static const uint8_t gz[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03 };
	uint8_t img[256];
	size_t alen = 124, glen = 0;
	memcpy(img, gz, sizeof(gz));
	glen = sizeof(gz);
	{ /* deflate stored block: final, type 0, then LEN/NLEN, the bytes, CRC-32, ISIZE */
		img[glen++] = 0x01;
		img[glen++] = (uint8_t)alen;
		img[glen++] = 0;
		img[glen++] = (uint8_t)~alen;
		img[glen++] = 0xff;
		memcpy(img + glen, cpio, alen);
		glen += alen;
		uint32_t crc = 0xffffffffu;
		for (size_t i = 0; i < alen; i++) {
			crc ^= (uint8_t)cpio[i];
			for (int k = 0; k < 8; k++)
				crc = crc >> 1 ^ (0xedb88320u & -(crc & 1));
		}
		crc = ~crc;
		for (int k = 0; k < 4; k++)
			img[glen++] = (uint8_t)(crc >> (8 * k));
		for (int k = 0; k < 4; k++)
			img[glen++] = (uint8_t)(alen >> (8 * k));
	}
	char *initrd = write_temp(img, glen);
	CHECK_EQ(boot_load(&m, kb, initrd, "", NULL, 0, 0xe0000, BOOT_DECOMPRESS_HOST, true, &bi), 0);
	CHECK_EQ(rd32(gp(&m, LAYOUT_ZERO_PAGE) + 0x21c), alen);
	CHECK(memcmp(gp(&m, rd32(gp(&m, LAYOUT_ZERO_PAGE) + 0x218)), cpio, alen) == 0);
	CHECK_EQ(boot_load(&m, kb, initrd, "", NULL, 0, 0xe0000, BOOT_DECOMPRESS_HOST, false, &bi), 0);
	CHECK_EQ(rd32(gp(&m, LAYOUT_ZERO_PAGE) + 0x21c), glen);
	CHECK(memcmp(gp(&m, rd32(gp(&m, LAYOUT_ZERO_PAGE) + 0x218)), img, glen) == 0);
	remove_temp(kb);
	remove_temp(initrd);
	free(b.img);
	mem_free(&m);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* the loaders log why they refuse; the tests check return codes */
	return unit_main(argc, argv);
}
