/* libFuzzer target: virtio-blk requests (src/devices/virtio/blk/blk.c) over a ring the fuzzer
 * writes, on a raw or a qcow2 image (src/block/). Input: byte 0 = flags (bit 0 qcow2 image,
 * bit 1 indirect descriptors, bit 2 event index, bit 3 read-only drive), byte 1 = queue size
 * exponent, byte 2 = avail index, then guest RAM from address 0 (the ring at 0/0x1000/0x2000,
 * headers, data and status bytes anywhere). Requests of every type, sectors anywhere, chains
 * of any shape: nothing may crash, write outside RAM or outside the image, and the image keeps
 * its size (raw) or stays a valid qcow2 image that reopens. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vm/device_params.h"
#include "block/disk.h"
#include "block/qcow2_format.h"
#include "devices/virtio/blk/blk.h"
#include "../fake_driver.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define RAM (1u << 16)
#define DISK (1u << 20)

/* The image: 1 MiB raw, or an empty 1 MiB qcow2 v3 image with 4 KiB clusters laid out as
 * qemu-img lays one out (header, L1, refcount table, refcount block). */
static int make_image(bool qcow2, char *path, size_t len)
{
	int fd = memfd_create("fuzz-blk", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	snprintf(path, len, "/proc/self/fd/%d", fd);
	if (!qcow2)
		return ftruncate(fd, DISK) == 0 ? fd : -1;
	/* header, L1 (1 cluster), refcount table (1 cluster), one refcount block */
	static uint8_t img[4 * 4096];
	memset(img, 0, sizeof(img));
	uint8_t *h = img;
	qcow2_put_be32(h, QCOW2_MAGIC);
	qcow2_put_be32(h + 4, 3);
	qcow2_put_be32(h + 20, 12);            /* 4 KiB clusters */
	qcow2_put_be64(h + 24, DISK);
	qcow2_put_be32(h + 36, 1);             /* l1_size */
	qcow2_put_be64(h + 40, 4096);          /* L1 */
	qcow2_put_be64(h + 48, 8192);          /* refcount table */
	qcow2_put_be32(h + 56, 1);
	qcow2_put_be32(h + 96, 4);             /* 16-bit refcounts */
	qcow2_put_be32(h + 100, 104);
	qcow2_put_be64(img + 8192, 12288);     /* refcount block at cluster 3 */
	for (int c = 0; c < 4; c++)            /* clusters 0-3 are in use: refcount 1 (be16) */
		img[12288 + 2 * c + 1] = 1;
	if (write(fd, img, sizeof(img)) != (ssize_t)sizeof(img)) {
		close(fd);
		return -1;
	}
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	struct guest_mem *mem = fuzz_guest_mem(RAM);
	uint8_t *ram = mem->regions[0].hva;
	memset(ram, 0, RAM);
	memcpy(ram, data + 3, size - 3 < RAM ? size - 3 : RAM);

	bool qcow2 = data[0] & 1;
	char path[64];
	int fd = make_image(qcow2, path, sizeof(path));
	if (fd < 0)
		return 0;
	struct drive_config cfg = { .drive_id = "f", .path_on_host = path, .is_read_only = data[0] & 8,
				    .cache_type = DRIVE_CACHE_WRITEBACK, .format = qcow2 ? 2 : 1 };
	static struct virtio_blk b;
	if (virtio_blk_create(&b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, mem, NULL) < 0) {
		close(fd);
		return 0;
	}
	struct virtio_dev *d = &b.vdev;
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) |
		     VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_BLK_SIZE);
	if (data[0] & 2)
		f |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	if (data[0] & 4)
		f |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (!(data[0] & 8))
		f |= VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	else
		f |= VIRTIO_BIT(VIRTIO_BLK_F_RO);
	fake_driver_start(d, f, 1, 0, (uint16_t)(1u << (data[1] % 9)));
	ram[0x1000 + 2] = data[2]; /* avail idx: how many chains */

	pthread_mutex_lock(&d->lock);
	if (virtio_is_running(d))
		d->ops->queue_notify(d, 0);
	pthread_mutex_unlock(&d->lock);
	FUZZ_CHECK(b.reads + b.writes <= 256u);
	virtio_dev_destroy(d);

	struct stat sb;
	FUZZ_CHECK(fstat(fd, &sb) == 0);
	if (!qcow2) {
		FUZZ_CHECK(sb.st_size == DISK); /* nothing written past the end */
	} else {
		/* what the device wrote is still a qcow2 image of the same disk */
		struct disk dk;
		struct disk_options o = { .format = DISK_FORMAT_QCOW2, .read_only = true };
		FUZZ_CHECK(disk_open(&dk, path, &o) == 0);
		FUZZ_CHECK(disk_size(&dk) == DISK);
		disk_close(&dk);
	}
	close(fd);
	return 0;
}
