/* libFuzzer target: the whole read path of a boot from the disk (src/diskboot/diskboot.c) over
 * an in-memory disk: the partition table, each partition's file system probed, ext2/3/4 opened
 * by libext2fs through petrel's io_manager, grub.cfg and grubenv read and run, the kernel and
 * initrds read (links followed) or /vmlinuz's. The seeds are small ext2/ext4 file systems (bare
 * and in an MBR) with those files. A boot is found or refused with a reason; nothing is read
 * outside the disk (the reader is the bounds check). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diskboot/diskboot.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *disk = fuzz_dup(data, size);
	struct dsrc_mem m;
	struct dsrc src = dsrc_of_mem(&m, disk, size);
	struct diskboot b;
	char err[1024] = "";
	int r = diskboot_find(&src, 0, &b, err, sizeof(err));
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(r <= 0);
	FUZZ_CHECK(r == 0 || err[0]);
	if (r == 0) {
		FUZZ_CHECK(b.kernel_len <= DISKBOOT_KERNEL_MAX && b.initrd_len <= DISKBOOT_INITRD_MAX && b.cmdline);
		FUZZ_CHECK(memchr(b.what, 0, sizeof(b.what)) != NULL);
		diskboot_free(&b);
	}
	free(disk);
	return 0;
}
