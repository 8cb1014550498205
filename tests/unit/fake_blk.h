/* virtio-blk for the unit tests that drive it through fake_ring.h (test_blk.c,
 * test_seccomp_devices.c): raw images in a temporary directory (main mkdtemps `dir`) and
 * requests in slots (header, data, status). Include after fake_ring.h, with DISK (image
 * bytes) defined. */
#ifndef PETREL_TESTS_UNIT_FAKE_BLK_H
#define PETREL_TESTS_UNIT_FAKE_BLK_H

#include "vm/device_params.h"
#include "devices/virtio/blk/blk.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define HDR 0x10000      /* request headers, 16 bytes per slot */
#define STATUS 0x11000   /* status bytes */
#define DATA 0x20000     /* data, 64 KiB per slot */

static char dir[] = "/tmp/petrel-test-blk-XXXXXX";

static inline const char *file(const char *name)
{
	static char path[4][128];
	static unsigned k;
	char *p = path[k++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

/* A raw image of DISK bytes, byte i = (i / 512 + seed) & 0xff. */
static inline const char *raw_image(const char *name, unsigned seed)
{
	const char *p = file(name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	static uint8_t sec[512];
	for (uint64_t s = 0; s < DISK / 512; s++) {
		memset(sec, (int)((s + seed) & 0xff), 512);
		if (write(fd, sec, 512) != 512)
			abort();
	}
	close(fd);
	return p;
}

/* Request slot i (descriptors 3i..3i+2): header, data (len bytes at DATA + 64 KiB i), status. */
static inline void queue_req(unsigned i, uint32_t type, uint64_t sector, uint32_t len)
{
	uint8_t *h = ram + HDR + 16 * i;
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	ram[STATUS + i] = 0xff;
	uint16_t d = (uint16_t)(3 * i % QS);
	uint16_t wr = type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0;
	set_desc(0, d, HDR + 16 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
	set_desc(0, d + 1, DATA + 0x10000ull * i, len, VIRTQ_DESC_F_NEXT | wr, (uint16_t)(d + 2));
	set_desc(0, d + 2, STATUS + i, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(0, d);
}

/* A drive on path (raw or qcow2, io_engine engine) whose driver has started queue 0 with
 * features (and VERSION_1), interrupts to transport. 0 or -errno. */
static inline int fake_blk_start(struct virtio_blk *b, const char *path, int format, int engine,
				 uint64_t features, const struct virtio_transport_ops *transport)
{
	mem_setup();
	struct drive_config cfg = { .drive_id = "t", .path_on_host = (char *)path, .format = format,
				    .io_engine = engine, .cache_type = DRIVE_CACHE_WRITEBACK };
	int err = virtio_blk_create(b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, NULL);
	if (err < 0)
		return err;
	virtio_dev_set_transport(&b->vdev, transport, NULL);
	start(&b->vdev, features | VIRTIO_BIT(VIRTIO_F_VERSION_1), 1);
	return 0;
}

/* The notification, then every request finished (completions the submit did not produce
 * come in through the pause path's reap, as the I/O thread would hand them over). */
static inline void fake_blk_run(struct virtio_blk *b)
{
	notify(&b->vdev, 0);
	pthread_mutex_lock(&b->vdev.lock);
	b->vdev.ops->quiesce(&b->vdev);
	pthread_mutex_unlock(&b->vdev.lock);
}

/* main() of a test file that uses this: the image directory made, the tests run, removed. */
static inline int fake_blk_main(int argc, char **argv)
{
	if (!mkdtemp(dir))
		return 1;
	int r = unit_main(argc, argv);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? r : 1;
}

#endif
