/* Firmware images: find Debian's by name, read one and check that it can be one. */
#include "boot/firmware.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int firmware_check(const uint8_t *img, size_t len, char *err, size_t errlen)
{
	if (len < FIRMWARE_MIN || len > FIRMWARE_MAX || len % ROM_ALIGN)
		return error_set(err, errlen, -EINVAL,
				 "is %zu bytes: a firmware image is a multiple of %u KiB between %u KiB and %u MiB",
				 len, ROM_ALIGN >> 10, FIRMWARE_MIN >> 10, FIRMWARE_MAX >> 20);
	/* The CPU starts 16 bytes below 4 GiB, where every PC firmware puts a jump: a far jump
	 * (SeaBIOS), or a near/short one after a few NOPs (OVMF's reset vector). */
	const uint8_t *v = img + len - 16;
	unsigned i = 0;
	while (i < 8 && v[i] == 0x90)
		i++;
	if (v[i] != 0xea && v[i] != 0xe9 && v[i] != 0xeb)
		return error_set(err, errlen, -EINVAL,
				 "has no jump at its reset vector (the last 16 bytes): not a PC firmware image");
	return 0;
}

int firmware_read(const char *name, uint8_t **img, size_t *len, char *err, size_t errlen)
{
	const char *path = firmware_path(name);
	char *buf = NULL;
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return error_set(err, errlen, -EINVAL, "firmware '%s' is not a file", path);
	int r = read_whole_file(path, FIRMWARE_MAX, &buf, len);
	if (r == -EFBIG)
		return error_set(err, errlen, r, "firmware '%s' is larger than %u MiB", path, FIRMWARE_MAX >> 20);
	if (r < 0) {
		char hint[64] = ""; /* a name stands for the Debian package of that name */
		if (r == -ENOENT && path != name)
			snprintf(hint, sizeof(hint), " (install Debian's package %s)", name);
		return error_set(err, errlen, r, "cannot read firmware '%s': %s%s", path, strerror(-r), hint);
	}
	char why[200];
	if ((r = firmware_check((const uint8_t *)buf, *len, why, sizeof(why))) < 0) {
		free(buf);
		return error_set(err, errlen, r, "firmware '%s' %s", path, why);
	}
	*img = (uint8_t *)buf;
	return 0;
}
