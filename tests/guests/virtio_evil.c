/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_evil: a hostile driver. Sends malformed descriptor chains and ring setups to a
 * virtio-blk device (buffers outside RAM, huge lengths, loops, bad next/head indices, avail
 * index jumps, readable-after-writable, bad indirect tables, short headers, out-of-range
 * sectors) and checks each one either fails that request (IOERR/UNSUPP) or puts the device
 * in NEEDS_RESET -- and that after a reset the device works again. Finally writes
 * "EVIL" x 128 at sector 300 (the host checks that only that sector changed).
 * Command line: transport=pci|mmio.  Prints "virtio-evil cases=N" and "ok virtio_evil".
 */
#include "evil.h"

DEFINE_GUEST("virtio_evil");

#define QSIZE 16

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static struct blk_hdr hdr;
static uint8_t status_b;
static uint8_t data[4096] __attribute__((aligned(4096)));
static struct vring_desc table[400] __attribute__((aligned(16)));
static struct vring_desc table2[4] __attribute__((aligned(16)));
static uint64_t cap;

static void reinit(void)
{
	uint64_t f;
	check(vdev_negotiate(&dev, VF_VERSION_1 | VF_INDIRECT | BLK_F_FLUSH | BLK_F_DISCARD | BLK_F_WRITE_ZEROES, &f),
	      "FEATURES_OK refused");
	check(f & VF_INDIRECT, "no indirect descriptors");
	check(vq_setup(&dev, &vq, 0, &ring, QSIZE, 0xffff), "queue setup failed");
	vdev_driver_ok(&dev);
	check((vdev_status(&dev) & (VS_DRIVER_OK | VS_NEEDS_RESET)) == VS_DRIVER_OK, "device not running after init (0x%x)",
	      vdev_status(&dev));
}

/* A good read of sector 5 must work. */
static void check_alive(const char *after)
{
	hdr = (struct blk_hdr){ BLK_T_IN, 0, 5 };
	status_b = 0xff;
	struct vbuf b[] = { { &hdr, 16, false }, { data, 512, true }, { &status_b, 1, true } };
	vq_add(&vq, b, 3);
	vq_kick(&vq);
	check(vq_wait(&vq, NULL, NULL, 10), "after %s: good read got no completion", after);
	check(status_b == BLK_S_OK, "after %s: good read status %u", after, status_b);
	for (int i = 0; i < 512; i++)
		check(data[i] == disk_pattern(5 * 512 + (uint64_t)i), "after %s: good read returned wrong data", after);
}

static struct evil ev = { "virtio-evil", &dev, &vq, reinit, check_alive, 0 };

/* The request must complete with a failure status (or, if want_status is 0xff, with the
 * status byte untouched). */
static void expect_status(const char *name, uint8_t want_status)
{
	vq_kick(&vq);
	uint32_t len;
	check(vq_wait(&vq, NULL, &len, 5), "%s: no completion", name);
	check(!(vdev_status(&dev) & VS_NEEDS_RESET), "%s: device broke instead of failing the request", name);
	check(status_b == want_status, "%s: status %u, expected %u", name, status_b, want_status);
	printf("virtio-evil: %s -> status %u\n", name, status_b);
	ev.cases++;
	check_alive(name);
}

static void set(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	evil_set(&ev, i, addr, len, flags, next);
}

static void expect_broken(const char *name)
{
	evil_expect_broken(&ev, name);
}

static void hdr_set(uint32_t type, uint64_t sector)
{
	hdr = (struct blk_hdr){ type, 0, sector };
	status_b = 0xff;
}

static long body(long arg)
{
	(void)arg;
	reinit();
	cap = vdev_cfg_read(&dev, 0, 4) | (uint64_t)vdev_cfg_read(&dev, 4, 4) << 32;
	check_alive("init");

	/* the chains every device refuses (evil.c) */
	evil_malformed_chains(&ev, &hdr, table, table2);

	/* 8: device-readable after device-writable */
	hdr_set(BLK_T_IN, 0);
	set(0, (uintptr_t)&hdr, 16, VD_NEXT, 1);
	set(1, (uintptr_t)&status_b, 1, VD_NEXT | VD_WRITE, 2);
	set(2, (uintptr_t)data, 512, 0, 0);
	vq_publish(&vq, 0);
	expect_broken("readable after writable");

	/* 12: indirect with NEXT */
	hdr_set(BLK_T_IN, 0);
	table[0] = (struct vring_desc){ (uintptr_t)&hdr, 16, 0, 0 };
	set(0, (uintptr_t)table, 16, VD_INDIRECT | VD_NEXT, 1);
	set(1, (uintptr_t)&status_b, 1, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_broken("indirect with NEXT");

	/* 13: loop inside an indirect table */
	table[0] = (struct vring_desc){ (uintptr_t)&hdr, 16, VD_NEXT, 1 };
	table[1] = (struct vring_desc){ (uintptr_t)data, 512, VD_NEXT | VD_WRITE, 0 };
	set(0, (uintptr_t)table, 32, VD_INDIRECT, 0);
	vq_publish(&vq, 0);
	expect_broken("indirect loop");

	/* 14: an indirect table longer than any chain may be (300 descriptors) */
	for (int i = 0; i < 300; i++)
		table[i] = (struct vring_desc){ (uintptr_t)data, 16, (uint16_t)(i < 299 ? VD_NEXT : 0), (uint16_t)(i + 1) };
	set(0, (uintptr_t)table, 300 * 16, VD_INDIRECT, 0);
	vq_publish(&vq, 0);
	expect_broken("300-entry indirect chain");

	/* 15: header shorter than 16 bytes: the request fails */
	hdr_set(BLK_T_IN, 0);
	set(0, (uintptr_t)&hdr, 8, VD_NEXT, 1);
	set(1, (uintptr_t)&status_b, 1, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_status("8-byte header", BLK_S_IOERR);

	/* 16: a write whose data is device-writable: fails, nothing is written */
	hdr_set(BLK_T_OUT, 10);
	memset(data, 0xee, 512);
	set(0, (uintptr_t)&hdr, 16, VD_NEXT, 1);
	set(1, (uintptr_t)data, 512, VD_NEXT | VD_WRITE, 2);
	set(2, (uintptr_t)&status_b, 1, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_status("write with writable data", BLK_S_IOERR);

	/* 17: no status byte (nothing device-writable): completes, writes nothing */
	hdr_set(BLK_T_OUT, 11);
	set(0, (uintptr_t)&hdr, 16, VD_NEXT, 1);
	set(1, (uintptr_t)data, 512, 0, 0);
	vq_publish(&vq, 0);
	expect_status("no status byte", 0xff);

	/* 18: sector past the end, and a sector count that wraps around */
	hdr_set(BLK_T_OUT, cap);
	set(0, (uintptr_t)&hdr, 16, VD_NEXT, 1);
	set(1, (uintptr_t)data, 512, VD_NEXT, 2);
	set(2, (uintptr_t)&status_b, 1, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_status("write past the end", BLK_S_IOERR);
	hdr_set(BLK_T_OUT, 0xfffffffffffffff0ull);
	vq_publish(&vq, 0);
	expect_status("write at a wrapping sector", BLK_S_IOERR);

	/* 19: write-zeroes with a count that wraps */
	static struct { uint64_t sector; uint32_t n, flags; } seg = { 0xffffffffffffff00ull, 0x1000, 0 };
	hdr_set(BLK_T_WRITE_ZEROES, 0);
	set(0, (uintptr_t)&hdr, 16, VD_NEXT, 1);
	set(1, (uintptr_t)&seg, 16, VD_NEXT, 2);
	set(2, (uintptr_t)&status_b, 1, VD_WRITE, 0);
	vq_publish(&vq, 0);
	expect_status("write-zeroes wrapping", BLK_S_IOERR);

	/* 20: rings outside RAM, and a queue size that is not a power of two */
	vdev_negotiate(&dev, VF_VERSION_1, NULL);
	vq_setup_raw(&dev, 0, QSIZE, OUTSIDE_RAM, OUTSIDE_RAM + 0x1000, OUTSIDE_RAM + 0x2000, true);
	vdev_driver_ok(&dev);
	check(vdev_wait_broken(&dev, 5), "rings outside RAM: device did not go NEEDS_RESET");
	ev.cases++;
	vdev_negotiate(&dev, VF_VERSION_1, NULL);
	vq_setup_raw(&dev, 0, 12, (uintptr_t)ring.desc, (uintptr_t)ring.avail, (uintptr_t)ring.used, true);
	vdev_driver_ok(&dev);
	check(vdev_wait_broken(&dev, 5), "queue size 12: device did not go NEEDS_RESET");
	ev.cases++;
	printf("virtio-evil: bad ring setup -> NEEDS_RESET\n");
	/* and FEATURES_OK must be refused without VERSION_1 */
	vdev_reset(&dev);
	vdev_set_status(&dev, VS_ACK | VS_DRIVER);
	vdev_set_driver_features(&dev, 0);
	vdev_set_status(&dev, VS_ACK | VS_DRIVER | VS_FEATURES_OK);
	check(!(vdev_status(&dev) & VS_FEATURES_OK), "FEATURES_OK accepted without VERSION_1");
	ev.cases++;

	/* Finally a good write the host checks */
	reinit();
	for (int i = 0; i < 512; i++)
		data[i] = (uint8_t)"EVIL"[i % 4];
	hdr_set(BLK_T_OUT, 300);
	struct vbuf b[] = { { &hdr, 16, false }, { data, 512, false }, { &status_b, 1, true } };
	vq_add(&vq, b, 3);
	vq_kick(&vq);
	check(vq_wait(&vq, NULL, NULL, 10), "final write: no completion");
	check(status_b == BLK_S_OK, "final write: status %u", status_b);
	return 0;
}

void test_main(void)
{
	bool mmio = cmdline_is("transport", "mmio");
	bool found = vdev_find(VIRTIO_ID_BLOCK, mmio, &dev);
	check(found, "no virtio-blk device");
	user_call(body, 0, USER_IF);
	printf("virtio-evil cases=%u\n", ev.cases);
	pass();
}
