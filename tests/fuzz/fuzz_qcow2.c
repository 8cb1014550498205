/* libFuzzer target: the qcow2 reader and writer (src/block/qcow2*.c, disk.c) on arbitrary
 * image files. The input is the image; it is opened read-write from a memfd, read at a few
 * places, written (also as virtio-blk writes: copy-on-write held across requests until a
 * commit), zeroed and discarded, read again and closed. Opening must refuse a bad
 * image cleanly, and every request on an accepted one must succeed or fail with -errno,
 * never read or write outside its buffers. Seeds: images qemu-img made (corpus/fuzz_qcow2). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/disk.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define IO_BYTES 20000 /* a request spans several clusters of every size but 2 MiB */

static uint8_t buf[IO_BYTES];

static void io(struct disk *d, enum raw_op op, uint64_t off, uint64_t len, bool held)
{
	uint64_t size = disk_size(d);
	if (!size)
		return;
	off %= size;
	if (len > size - off)
		len = size - off;
	struct iovec iov[2] = { { buf, len / 2 }, { buf + len / 2, len - len / 2 } };
	int64_t r = held ? disk_write_held(d, off, iov, 2) : disk_sync(d, op, off, iov, 2);
	FUZZ_CHECK(r == (int64_t)len || r < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct disk d;
	struct disk_options o = { .format = DISK_FORMAT_QCOW2 };
	if (disk_open(&d, path, &o) == 0) {
		uint64_t seed = size;
		for (size_t i = 0; i < size && i < 64; i++)
			seed = seed * 31 + data[i];
		io(&d, RAW_READ, 0, IO_BYTES, false);
		io(&d, RAW_READ, seed, IO_BYTES, false);
		io(&d, RAW_WRITE, seed >> 7, 4096, false);
		io(&d, RAW_WRITE, seed >> 13, IO_BYTES, false);
		/* As virtio-blk: held writes, a read and a rewrite of them, one commit started. */
		io(&d, RAW_WRITE, seed >> 19, 4096, true);
		io(&d, RAW_WRITE, seed >> 23, IO_BYTES, true);
		io(&d, RAW_READ, seed >> 19, IO_BYTES, false);
		io(&d, RAW_WRITE, (seed >> 19) + 512, 4096, true);
		FUZZ_CHECK(disk_commit_start(&d) <= 0);
		io(&d, RAW_WRITE, seed >> 29, 4096, true);
		if (disk_size(&d)) {
			disk_write_zeroes(&d, (seed >> 3) % disk_size(&d), 70000, false);
			disk_discard(&d, 0, disk_size(&d) < (1u << 20) ? disk_size(&d) : (1u << 20));
		}
		io(&d, RAW_READ, seed >> 7, IO_BYTES, false);
		disk_sync(&d, RAW_FLUSH, 0, NULL, 0);
		disk_close(&d);
	}
	close(fd);
	return 0;
}
