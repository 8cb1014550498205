/* libFuzzer target: host-side initrd decompression (src/boot/initrd_unpack.c: the walk of the
 * kernel's initramfs reader, initrd_cpio.c, and every format's member decoder in unpack_*.c)
 * on arbitrary initrds. Output is capped at 4 MiB; the result must be one of the documented
 * returns with a message, and a decompressed initrd must hold nothing more to decompress
 * (unpacking it again is "nothing to do"). Seeds: tests/fuzz/corpus/fuzz_initrd_unpack/ (cpio
 * archives alone, compressed with each format, and concatenated with zero padding). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot/initrd_unpack.h"
#include "fuzz_common.h"

#define OUT_MAX (4u << 20)

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *in = fuzz_dup(data, size);
	struct initrd_unpacked u;
	char msg[320];
	msg[0] = 0;
	int r = initrd_unpack(in, size, OUT_MAX, &u, msg, sizeof(msg));
	FUZZ_CHECK(r == 1 || r == 0 || r == -EINVAL || r == -EFBIG || r == -ENOMEM || r == -ENOTSUP);
	FUZZ_CHECK(r == 1 || (msg[0] && memchr(msg, 0, sizeof(msg))));
	if (r == 1) {
		FUZZ_CHECK(u.data && u.len <= OUT_MAX && u.members >= 1);
		struct initrd_unpacked again;
		FUZZ_CHECK(initrd_unpack(u.data, u.len, OUT_MAX, &again, msg, sizeof(msg)) == 0);
		free(u.data);
	}
	free(in);
	return 0;
}
