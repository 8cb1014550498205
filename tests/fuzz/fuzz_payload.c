/* libFuzzer target: each bzImage-payload decompressor wrapper (src/boot/unpack_*.c through
 * payload_decompress) on arbitrary streams.
 * Input: [format: 1 byte, enum payload_format mod 8][output size: le32, mod 1 MiB, 0 -> 1][stream].
 * The output buffer is exactly that size (so ASan sees any write past it); a wrapper must
 * return 0 having filled it, or -EINVAL/-ENOMEM/-ENOTSUP. Seeds: tests/fuzz/mkseeds_payload.py. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "boot/payload.h"
#include "fuzz_common.h"

#define OUT_MAX (1u << 20)

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	enum payload_format f = (enum payload_format)(data[0] % 8);
	uint32_t outlen;
	memcpy(&outlen, data + 1, 4);
	outlen %= OUT_MAX;
	if (!outlen)
		outlen = 1;
	uint8_t *in = fuzz_dup(data + 5, size - 5);
	uint8_t *out = malloc(outlen);
	char err[256];
	err[0] = 0;
	int r = payload_decompress(f, in, size - 5, out, outlen, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM || r == -ENOTSUP);
	FUZZ_CHECK(r == 0 || (err[0] && memchr(err, 0, sizeof(err))));
	FUZZ_CHECK(payload_detect(in, size - 5) <= PAYLOAD_LZO);
	free(out);
	free(in);
	return 0;
}
