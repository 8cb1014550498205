/* libFuzzer target: the whole bzImage -> entry decision (bzimage_unpack in
 * src/boot/bzimage_unpack.c): setup header, payload bounds, format, decompression with its
 * output bound, the decompressed ELF and the entry it picks.
 * Input: [how: 1 byte, enum boot_decompress mod 3][bzImage]. The guest has 8 MiB of RAM, so
 * decompressed kernels are bounded by 8 MiB; seeds link at 1 MiB (tests/fuzz/mkseeds_payload.py).
 * Whatever the bytes, a decision that accepts the kernel must have produced exactly the
 * announced size, at most init_size and RAM, and an entry inside a segment in RAM. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "boot/boot.h"
#include "boot/bzimage_unpack.h"
#include "fuzz_common.h"

#define RAM (8u << 20)

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum boot_decompress how = (enum boot_decompress)(data[0] % 3);
	size_t len = size - 1;
	uint8_t *img = fuzz_dup(data + 1, len);
	struct bzimage_info bz;
	char msg[256];
	if (bzimage_parse(img, len, &bz, msg, sizeof(msg)) == 0) {
		struct guest_mem *mem = fuzz_guest_mem(RAM);
		struct bzimage_unpacked u;
		int r = bzimage_unpack(img, len, &bz, mem, how, &u, msg, sizeof(msg));
		FUZZ_CHECK(r == 1 || r == 0 || r == -EINVAL || r == -ENOTSUP);
		FUZZ_CHECK(memchr(msg, 0, sizeof(msg)) != NULL);
		if (r == 1) {
			FUZZ_CHECK(how != BOOT_DECOMPRESS_GUEST);
			FUZZ_CHECK(u.elf && u.elf_len > 0 && u.elf_len <= bz.init_size && u.elf_len <= RAM);
			FUZZ_CHECK(u.mode == BOOT_LINUX64 || (u.mode == BOOT_PVH && how == BOOT_DECOMPRESS_HOST));
			int inside = 0;
			for (unsigned i = 0; i < u.pi.nseg; i++) {
				const struct elf_segment *s = &u.pi.seg[i];
				FUZZ_CHECK(s->paddr >= 0x100000 && s->paddr + s->memsz <= RAM);
				FUZZ_CHECK(s->offset + s->filesz <= u.elf_len);
				inside |= u.entry >= s->paddr && u.entry < s->paddr + s->filesz;
			}
			FUZZ_CHECK(inside);
			u.elf[u.elf_len - 1] ^= 1; /* the whole buffer is ours */
			bzimage_unpacked_free(&u);
		} else {
			FUZZ_CHECK(u.elf == NULL);
		}
	}
	free(img);
	return 0;
}
