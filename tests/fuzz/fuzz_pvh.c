/* libFuzzer target: image_is_elf(), pvh_parse() and pvh_load() on arbitrary ELF images. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
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
	(void)image_is_elf(img, size);
	struct pvh_info pi;
	char err[256];
	int r = pvh_parse(img, size, &pi, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(pi.nseg >= 1 && pi.nseg <= PVH_MAX_SEGMENTS);
		for (unsigned i = 0; i < pi.nseg; i++) {
			FUZZ_CHECK(pi.seg[i].offset <= size);
			FUZZ_CHECK(pi.seg[i].filesz <= size - pi.seg[i].offset);
			FUZZ_CHECK(pi.seg[i].filesz <= pi.seg[i].memsz);
		}
		struct guest_mem *mem = fuzz_guest_mem(RAM);
		struct e820_entry e820[E820_MAX];
		int n = e820_build(mem, e820);
		size_t ilen = size > 64 ? 64 : size;
		struct boot_request req = {
			.kernel = img, .kernel_len = size, .initrd = img, .initrd_len = ilen,
			.cmdline = "console=ttyS0", .e820 = e820, .e820_n = n, .rsdp = 0xe0000,
		};
		struct boot_info bi;
		r = pvh_load(mem, &req, &bi);
		FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM);
		if (r == 0) {
			FUZZ_CHECK(bi.mode == BOOT_PVH && bi.entry == pi.entry);
			FUZZ_CHECK(bi.kernel_end <= RAM);
		}
	}
	free(img);
	return 0;
}
