/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blkswap: a virtio-blk driver that resets its device over and over while the host swaps the
 * drive's backing file (PATCH /drives/{id} path_on_host) between two images (issue 9: a drive
 * swap racing a guest reset). Image A holds disk_pattern(), image B its complement. Each
 * round resets the device, sets it up again and reads 4 x 4 KiB; every other round it resets
 * again with the reads still in flight. Every completed read must come wholly from one image:
 * no mix of the two, no garbage. Runs secs=N seconds (default 3) and at least 20 rounds.
 * Prints "blkswap rounds=N from_a=A from_b=B" and "blkswap cases=N".
 */
#include "virtio_common.h"

DEFINE_GUEST("blkswap");

#define NREQ 4

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static struct blk_hdr hdrs[NREQ];
static uint8_t status[NREQ];
static uint8_t buf[NREQ][4096] __attribute__((aligned(4096)));
static unsigned rounds, from_a, from_b;

static void setup(void)
{
	uint64_t f;
	check(vdev_negotiate(&dev, VF_VERSION_1, &f), "round %u: FEATURES_OK refused", rounds);
	check(vq_setup(&dev, &vq, 0, &ring, 16, 0xffff), "round %u: queue setup failed", rounds);
	vdev_driver_ok(&dev);
	check(!vdev_broken(&dev), "round %u: device broke at setup", rounds);
}

static uint64_t sector_of(unsigned i) { return (uint64_t)((rounds * NREQ + i) % 512) * 8; }

static void submit(void)
{
	for (unsigned i = 0; i < NREQ; i++) {
		hdrs[i] = (struct blk_hdr){ BLK_T_IN, 0, sector_of(i) };
		status[i] = 0xff;
		struct vbuf b[] = { { &hdrs[i], 16, false }, { buf[i], 4096, true }, { &status[i], 1, true } };
		vq_add(&vq, b, 3);
	}
	vq_kick(&vq);
}

/* Which image read i came from: 'A', 'B', or a failure. */
static void classify(unsigned i)
{
	uint64_t base = sector_of(i) * 512;
	bool a = true, b = true;
	for (unsigned k = 0; k < 4096; k++) {
		uint8_t want_a = disk_pattern(base + k), want_b = (uint8_t)(want_a ^ 0xff), got = buf[i][k];
		a = a && got == want_a;
		b = b && got == want_b;
	}
	check(a || b, "round %u: read of sector %llu is neither image (first bytes %02x %02x %02x %02x)", rounds,
	      (unsigned long long)sector_of(i), buf[i][0], buf[i][1], buf[i][2], buf[i][3]);
	if (a)
		from_a++;
	else
		from_b++;
}

static long body(long secs)
{
	struct deadline dl;
	deadline_start(&dl, (int)secs);
	while (!deadline_expired(&dl) || rounds < 20) {
		rounds++;
		setup();
		memset(buf, 0, sizeof(buf));
		submit();
		if (rounds % 2) {
			vdev_reset(&dev); /* with the reads in flight */
			continue;
		}
		for (unsigned n = 0; n < NREQ; n++) {
			uint32_t id;
			check(vq_wait(&vq, &id, NULL, 20), "round %u: read %u never completed", rounds, n);
			unsigned i = (id / 3) % NREQ; /* vq_add hands out three descriptors per chain */
			check(status[i] == BLK_S_OK, "round %u: read of sector %llu: status %u", rounds,
			      (unsigned long long)sector_of(i), status[i]);
			classify(i);
		}
	}
	return 0;
}

void test_main(void)
{
	check(vpci_find(VIRTIO_ID_BLOCK, 0, &dev), "no virtio-blk device on PCI");
	user_call(body, cmdline_int("secs", 3), 0);
	printf("blkswap rounds=%u from_a=%u from_b=%u\n", rounds, from_a, from_b);
	printf("blkswap cases=%u\n", rounds);
	pass();
}
