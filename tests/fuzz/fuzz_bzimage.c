/* libFuzzer target: bzimage_parse() and bzimage_load() on arbitrary images, including the
 * host-side payload decompression it tries first (seeds with LZ4/gzip payloads:
 * tests/fuzz/mkseeds_payload.py). Input: the image. Its first byte also picks an initrd (a
 * tail of the input) and a command line length, so the loader's initrd and cmdline paths are
 * exercised too. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/e820.h"
#include "boot/boot.h"
#include "fuzz_common.h"

#define RAM (32u << 20)

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *img = fuzz_dup(data, size);
	struct bzimage_info info;
	char err[256];
	int r = bzimage_parse(img, size, &info, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL || r == 0);
	if (r == 0) {
		FUZZ_CHECK(info.kernel_offset < size);
		FUZZ_CHECK(info.kernel_offset + info.kernel_size == size);
		FUZZ_CHECK(info.hdr_end <= size && info.hdr_end <= 0x1000);
		FUZZ_CHECK(info.version >= 0x020c);

		struct guest_mem *mem = fuzz_guest_mem(RAM);
		struct e820_entry e820[E820_MAX];
		int n = e820_build(mem, e820);
		unsigned sel = size ? data[0] : 0;
		size_t ilen = (sel & 0x0f) * 97u;
		if (ilen > size)
			ilen = size;
		char cmdline[600];
		size_t clen = (sel >> 4) * 37u;
		memset(cmdline, 'c', clen);
		cmdline[clen] = 0;
		struct boot_request req = {
			.kernel = img, .kernel_len = size,
			.initrd = ilen ? img + size - ilen : NULL, .initrd_len = ilen,
			.cmdline = cmdline, .e820 = e820, .e820_n = n, .rsdp = 0xe0000,
		};
		struct boot_info bi;
		r = bzimage_load(mem, &req, &bi);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		if (r == 0) {
			/* The classic entry (load + 0x200), or, for a payload petrel decompressed,
			 * the vmlinux's startup_64 or PVH entry: inside its segments above 1 MiB. */
			FUZZ_CHECK(bi.mode == BOOT_LINUX64 || bi.mode == BOOT_PVH);
			FUZZ_CHECK(bi.entry >= 0x100000 && bi.entry < RAM);
			FUZZ_CHECK(bi.kernel_end <= RAM);
			uint32_t rd = 0;
			if (bi.mode == BOOT_LINUX64) {
				uint8_t *zp = guest_mem_ptr(mem, 0x7000, 0x1000);
				rd = zp[0x218] | zp[0x219] << 8 | zp[0x21a] << 16 | (uint32_t)zp[0x21b] << 24;
			} else if (ilen) {
				FUZZ_CHECK(guest_mem_read(mem, 0x6040, &rd, 4) == 0); /* modlist[0].paddr */
			}
			if (ilen) {
				FUZZ_CHECK(rd >= bi.kernel_end && rd + ilen <= RAM);
				FUZZ_CHECK(memcmp(guest_mem_ptr(mem, rd, ilen), req.initrd, ilen) == 0);
			}
		}
	}
	uint64_t len = 0, floor = 0, limit = 0;
	if (size >= 24) {
		memcpy(&len, data, 8);
		memcpy(&floor, data + 8, 8);
		memcpy(&limit, data + 16, 8);
		uint64_t a = boot_place_initrd(fuzz_guest_mem(RAM), len, floor, limit);
		if (a) {
			FUZZ_CHECK(a % 4096 == 0 && a >= floor && a + len <= RAM && a + len >= a);
			FUZZ_CHECK(a + len <= limit);
		}
	}
	free(img);
	return 0;
}
