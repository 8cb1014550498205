/* SPDX-License-Identifier: Apache-2.0 */
/*
 * blkloop: virtio-blk I/O in a loop from ring 3, for snapshots taken mid-run
 * (tests/snapshot). Each round writes 32 x 4 KiB with a pattern of that round
 * (all 32 in flight at once), then reads them back in another 32 in flight and
 * checks every byte. Prints "blkloop round=N ok" after each; runs rounds=N
 * rounds (default: until the VM is stopped). A snapshot taken while requests
 * are in flight must restore with their completions in the used ring, and the
 * data the device wrote must be what comes back.
 * keep=1: each round writes to its own 128 KiB slot of the first slots x 128 KiB (round r to
 * slot r % slots; slots=8 by default: the first 1 MiB) and first reads back the previous
 * round's slot: data must survive whatever happened between two rounds (a live migration
 * copying the disk: a chunk not sent again fails the guest). More slots keep a qcow2 overlay
 * allocating for longer.
 * Command line: rounds=N, transport=pci|mmio, keep=1, slots=N.
 */
#include "virtio_common.h"

DEFINE_GUEST("blkloop");

#define IRQ_VECTOR 0x41
#define BATCH 32

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static uint8_t buf[BATCH][4096] __attribute__((aligned(4096)));
static struct blk_hdr hdrs[BATCH];
static uint8_t status[BATCH];
static bool mmio, keep;
static uint64_t slots = 8;

static void on_irq(struct irq_frame *f)
{
	(void)f;
	if (mmio)
		vdev_isr(&dev);
}

static uint8_t pat(uint64_t round, unsigned i, unsigned b) { return (uint8_t)(round * 31 + i * 7 + b); }

static void batch(uint32_t type, uint64_t round)
{
	uint64_t base = keep ? (round % slots) * BATCH * 8 : 0; /* sectors */
	for (unsigned i = 0; i < BATCH; i++) {
		hdrs[i] = (struct blk_hdr){ type, 0, base + 8ull * i };
		status[i] = 0xff;
		struct vbuf b[] = { { &hdrs[i], 16, false }, { buf[i], 4096, type == BLK_T_IN }, { &status[i], 1, true } };
		vq_add(&vq, b, 3);
	}
	vq_kick(&vq);
	for (unsigned i = 0; i < BATCH; i++)
		check(vq_wait(&vq, NULL, NULL, 30), "round %lu: only %u of %u completed", (unsigned long)round, i, BATCH);
	for (unsigned i = 0; i < BATCH; i++)
		check(status[i] == BLK_S_OK, "round %lu request %u: status %u", (unsigned long)round, i, status[i]);
}

static long body(long rounds)
{
	uint64_t feats;
	check(vdev_negotiate(&dev, VF_VERSION_1, &feats), "device refused FEATURES_OK");
	check(vq_setup(&dev, &vq, 0, &ring, 128, mmio ? 0xffff : 0), "queue setup failed");
	if (!mmio) {
		vdev_msix_setup(&dev, 0, IRQ_VECTOR);
		vdev_set_config_vector(&dev, 0xffff);
	}
	vdev_driver_ok(&dev);
	for (uint64_t r = 1; rounds <= 0 || r <= (uint64_t)rounds; r++) {
		if (keep && r > 1) {
			memset(buf, 0, sizeof(buf));
			batch(BLK_T_IN, r - 1);
			for (unsigned i = 0; i < BATCH; i++)
				for (unsigned b = 0; b < 4096; b++)
					check(buf[i][b] == pat(r - 1, i, b), "round %lu: round %lu's block %u lost its data",
					      (unsigned long)r, (unsigned long)(r - 1), i);
		}
		for (unsigned i = 0; i < BATCH; i++)
			for (unsigned b = 0; b < 4096; b++)
				buf[i][b] = pat(r, i, b);
		batch(BLK_T_OUT, r);
		memset(buf, 0, sizeof(buf));
		batch(BLK_T_IN, r);
		for (unsigned i = 0; i < BATCH; i++)
			for (unsigned b = 0; b < 4096; b++)
				check(buf[i][b] == pat(r, i, b), "round %lu: read back byte %u of block %u is %#x, expected %#x",
				      (unsigned long)r, b, i, buf[i][b], pat(r, i, b));
		printf("blkloop round=%lu ok\n", (unsigned long)r);
	}
	return 0;
}

void test_main(void)
{
	mmio = cmdline_is("transport", "mmio");
	keep = cmdline_int("keep", 0) != 0;
	long n = cmdline_int("slots", 8);
	slots = n > 0 ? (uint64_t)n : 8;
	bool found = vdev_find(VIRTIO_ID_BLOCK, mmio, &dev);
	check(found, "no virtio-blk device on %s", mmio ? "virtio-mmio" : "PCI");
	lapic_enable();
	set_handler(IRQ_VECTOR, on_irq);
	if (mmio)
		ioapic_route(20, IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, cmdline_int("rounds", 0), USER_IF);
	pass();
}
