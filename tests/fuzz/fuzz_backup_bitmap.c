/* libFuzzer target: the readers of a disk's persistent backup bitmap (src/block/bitmap_store.c,
 * qcow2_bitmap.c) on arbitrary files. The first byte picks the store:
 *  - even: the rest is a sidecar (<disk>.petrel-bitmap) for a disk of a size taken from its
 *    own header (so that well-formed inputs get past the size check); a sidecar accepted must
 *    encode back to the same bytes.
 *  - odd: the rest is a qcow2 image; the bitmap extension, directory, table and data are read
 *    for the image's own size. Then the image (in a memfd) is opened for writing by petrel's
 *    qcow2 driver and a bitmap written into it; read again, it must be exactly what was
 *    written, and not in use.
 * Whatever the input, a bitmap is either refused (stale, with a reason) or read with no bit
 * past the disk's end; nothing reads or writes outside its buffers.
 * Seeds: corpus/fuzz_backup_bitmap (a sidecar, images with bitmaps petrel and qemu-img wrote). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/bitmap_store.h"
#include "block/disk.h"
#include "block/qcow2_bitmap.h"
#include "block/qcow2_format.h"
#include "util/bitmap.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define MAX_DISK (1ull << 36) /* 64 GiB: a bitmap of 128 KiB */

struct mem {
	const uint8_t *p;
	size_t len;
};

static int mem_read(void *ctx, void *buf, size_t len, uint64_t off)
{
	const struct mem *m = ctx;
	if (off > m->len || len > m->len - off)
		return -5;
	memcpy(buf, m->p + off, len);
	return 0;
}

static void no_bit_past_end(const struct backup_bitmap *b)
{
	if (b->stale || !b->bits)
		return;
	FUZZ_CHECK(b->nbits == backup_bitmap_nbits(b->disk_size));
	if (b->nbits % 64)
		FUZZ_CHECK(!(b->bits[b->nbits / 64] >> (b->nbits % 64)));
}

static void sidecar(const uint8_t *data, size_t size)
{
	uint64_t disk = 0;
	if (size >= 24)
		memcpy(&disk, data + 16, 8);
	disk %= MAX_DISK;
	struct backup_bitmap b;
	char err[256];
	if (bitmap_sidecar_parse(data, size, disk, &b, err, sizeof(err)) < 0) {
		FUZZ_CHECK(err[0]);
		return;
	}
	no_bit_past_end(&b);
	size_t len;
	uint8_t *again = bitmap_sidecar_build(&b, b.bits, b.in_use, &len);
	FUZZ_CHECK(again && len == size && !memcmp(again, data, size));
	free(again);
	backup_bitmap_free(&b);
}

static void image(const uint8_t *data, size_t size)
{
	uint64_t disk = size >= 32 ? qcow2_be64(data + 24) % MAX_DISK : 0;
	struct mem m = { data, size };
	struct qcow2_bm_src src = { mem_read, &m, size };
	struct backup_bitmap b;
	uint64_t flags_off;
	if (qcow2_bitmap_read(&src, disk, &b, &flags_off) < 0)
		return;
	FUZZ_CHECK(b.stale ? b.why[0] && !b.bits : flags_off + 4 <= size);
	no_bit_past_end(&b);
	backup_bitmap_free(&b);

	/* the writer on whatever petrel's qcow2 driver accepts */
	int fd = memfd_create("fuzz-bitmap", MFD_CLOEXEC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		return;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	struct disk d;
	struct disk_options o = { .format = DISK_FORMAT_QCOW2, .no_lock = true };
	if (disk_open(&d, path, &o) == 0) {
		uint64_t n = backup_bitmap_nbits(disk_size(&d));
		uint64_t *bits = disk_size(&d) <= MAX_DISK ? calloc(BITMAP_WORDS(n) + 1, 8) : NULL;
		char err[256];
		for (uint64_t i = 0; bits && i < n; i += 1 + (i * 7) % 13)
			bitmap_set(bits, i);
		if (bits && d.qcow2 && qcow2_bitmap_store(d.qcow2, "fuzz", bits, n, err, sizeof(err)) == 0) {
			uint64_t dsize = disk_size(&d);
			disk_close(&d);
			struct qcow2_bm_src fsrc = { qcow2_bm_fd_read, &fd, (uint64_t)lseek(fd, 0, SEEK_END) };
			struct backup_bitmap r;
			if (qcow2_bitmap_read(&fsrc, dsize, &r, &flags_off) == 0) {
				FUZZ_CHECK(!r.stale && !r.in_use && !strcmp(r.chain_id, "fuzz"));
				FUZZ_CHECK(!memcmp(r.bits, bits, (n + 7) / 8));
				backup_bitmap_free(&r);
			}
		} else {
			disk_close(&d);
		}
		free(bits);
	}
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		image(data + 1, size - 1);
	else
		sidecar(data + 1, size - 1);
	return 0;
}
