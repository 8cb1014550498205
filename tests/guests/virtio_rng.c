/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_rng: asks a virtio-rng device for 4 x 64 bytes from ring 3 and checks they came
 * back full, not constant, and different from each other.
 * Command line: transport=pci|mmio (default pci).  Prints "virtio-rng bytes=N".
 */
#include "virtio_common.h"

DEFINE_GUEST("virtio_rng");

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static uint8_t bufs[4][64];
static uint32_t total;

static long body(long arg)
{
	(void)arg;
	uint64_t feats;
	check(vdev_negotiate(&dev, VF_VERSION_1, &feats), "device refused FEATURES_OK");
	check(vq_setup(&dev, &vq, 0, &ring, 16, 0xffff), "queue setup failed");
	vdev_driver_ok(&dev);
	for (int i = 0; i < 4; i++) {
		struct vbuf b = { bufs[i], sizeof(bufs[i]), true };
		vq_add(&vq, &b, 1);
	}
	vq_kick(&vq);
	for (int i = 0; i < 4; i++) {
		uint32_t id, len;
		check(vq_wait(&vq, &id, &len, 10), "request %d: no completion", i);
		check(len == 64, "request %d: %u bytes, expected 64", i, len);
		total += len;
	}
	for (int i = 0; i < 4; i++) {
		unsigned same = 0, zero = 0;
		for (int j = 0; j < 64; j++) {
			same += bufs[i][j] == bufs[i][0];
			zero += bufs[i][j] == 0;
		}
		check(same < 16 && zero < 16, "buffer %d looks constant (%u equal bytes, %u zeroes)", i, same, zero);
		for (int k = 0; k < i; k++)
			check(memcmp(bufs[i], bufs[k], 64) != 0, "buffers %d and %d are identical", i, k);
	}
	return 0;
}

void test_main(void)
{
	vdev_find_on_cmdline_transport(VIRTIO_ID_RNG, &dev);
	user_call(body, 0, USER_IF);
	printf("virtio-rng bytes=%u\n", total);
	printf("virtio-rng sample: %02x%02x%02x%02x%02x%02x%02x%02x\n", bufs[0][0], bufs[0][1], bufs[0][2],
	       bufs[0][3], bufs[0][4], bufs[0][5], bufs[0][6], bufs[0][7]);
	pass();
}
