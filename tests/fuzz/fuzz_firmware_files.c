/* libFuzzer target: the checks of the firmware files a user hands petrel (src/boot/firmware.c's
 * firmware_check on a code image, src/boot/firmware_vars.c's firmware_vars_check on a UEFI vars
 * file beside a code image of a size from the input). The input: 4 bytes of code size (little-
 * endian, any value: the arithmetic of "16 MiB less the code" must not wrap), then the file.
 * Whatever the bytes, each check answers 0 or -EINVAL with a message, reads no byte outside the
 * file (ASan), and a vars file it accepts is a multiple of 4 KiB with "_FVH" at offset 40. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "boot/firmware.h"
#include "boot/firmware_vars.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t code = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
	data += 4;
	size -= 4;
	char msg[256];
	int r = firmware_check(data, size, msg, sizeof(msg));
	if (r != 0 && (r != -EINVAL || !msg[0]))
		__builtin_trap();
	r = firmware_vars_check(data, size, code, msg, sizeof(msg));
	if (r != 0 && (r != -EINVAL || !msg[0]))
		__builtin_trap();
	if (r == 0 && (size % FIRMWARE_VARS_ALIGN || size < FIRMWARE_VARS_MIN || (uint64_t)size + code > FIRMWARE_VARS_TOTAL ||
		       memcmp(data + 40, "_FVH", 4) != 0))
		__builtin_trap();
	return 0;
}
