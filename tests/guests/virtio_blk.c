/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_blk: drives a virtio-blk device from ring 3 through its virtqueue.
 * Command line:
 *   transport=pci|mmio  (default pci)
 *   sectors=N           expected capacity
 *   id=NAME             expected GET_ID answer
 *   ro=1                the disk is read-only: writes must fail, nothing may change
 *   intx=1              (PCI) leave MSI-X off: interrupts come as INTx through the IOAPIC
 * The host wrote disk_pattern() over the whole image. The guest checks reads (single,
 * split over several descriptors, indirect, 32 in flight), writes pattern2 at sector 2048
 * (16 sectors) and reads it back, flushes, write-zeroes sectors 4096-4103, discards
 * 8192-8199, checks out-of-range and unknown requests fail, and counts interrupts.
 * Prints "virtio-blk irqs=N" and "ok virtio_blk".
 */
#include "virtio_common.h"

DEFINE_GUEST("virtio_blk");

#define IRQ_VECTOR 0x41

static struct vdev dev;
static struct vq vq;
static struct vq_mem ring;
static volatile uint32_t irqs;
static uint8_t buf[32][4096] __attribute__((aligned(4096)));
static uint8_t big[16 * 512] __attribute__((aligned(4096)));
static struct blk_hdr hdrs[32];
static uint8_t status[32];
static char idbuf[21];
static struct vring_desc indirect[4] __attribute__((aligned(16)));
static bool ro, mmio, intx;
static uint64_t feats;

static void on_irq(struct irq_frame *f)
{
	irqs++;
	if (mmio || intx)
		vdev_isr(&dev); /* acknowledge: the line is level-triggered */
}

static uint8_t pattern2(uint64_t o) { return (uint8_t)(0xa5 ^ (o * 13)); }

/* One request: header, data buffers, status. Returns the status byte. */
static uint8_t request(uint32_t type, uint64_t sector, void *data, uint32_t len, bool data_write, uint32_t *used_len)
{
	struct blk_hdr *h = &hdrs[0];
	h->type = type;
	h->reserved = 0;
	h->sector = sector;
	status[0] = 0xff;
	struct vbuf b[3];
	unsigned n = 0;
	b[n++] = (struct vbuf){ h, sizeof(*h), false };
	if (len)
		b[n++] = (struct vbuf){ data, len, data_write };
	b[n++] = (struct vbuf){ &status[0], 1, true };
	uint16_t head = vq_add(&vq, b, n);
	vq_kick(&vq);
	uint32_t id, l;
	if (!vq_wait(&vq, &id, &l, 10))
		fail("request type %u sector %lu: no completion", type, (unsigned long)sector);
	check(id == head, "completion for descriptor %u, expected %u", id, head);
	if (used_len)
		*used_len = l;
	return status[0];
}

static void check_pattern(const uint8_t *p, uint64_t off, uint32_t len, const char *what)
{
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != disk_pattern(off + i))
			fail("%s: byte %u (disk offset %lu) is 0x%02x, expected 0x%02x", what, i,
			     (unsigned long)(off + i), p[i], disk_pattern(off + i));
}

static long body(long arg)
{
	(void)arg;
	uint64_t want = VF_VERSION_1 | VF_INDIRECT | BLK_F_RO | BLK_F_FLUSH | BLK_F_DISCARD | BLK_F_WRITE_ZEROES;
	check(vdev_negotiate(&dev, want, &feats), "device refused FEATURES_OK");
	check(feats & VF_VERSION_1, "no VERSION_1");
	check(!!(feats & BLK_F_RO) == ro, "VIRTIO_BLK_F_RO is %d, expected %d", !!(feats & BLK_F_RO), ro);
	uint64_t cap = vdev_cfg_read(&dev, 0, 4) | (uint64_t)vdev_cfg_read(&dev, 4, 4) << 32;
	long want_sectors = cmdline_int("sectors", -1);
	check(want_sectors < 0 || cap == (uint64_t)want_sectors, "capacity %lu sectors, expected %ld", (unsigned long)cap, want_sectors);
	printf("virtio-blk: %s, capacity %lu sectors, features 0x%lx\n", mmio ? "mmio" : "pci", (unsigned long)cap, (unsigned long)feats);
	check(vq_setup(&dev, &vq, 0, &ring, 128, mmio || intx ? 0xffff : 0), "queue setup failed");
	if (!mmio && !intx) {
		vdev_msix_setup(&dev, 0, IRQ_VECTOR);
		vdev_set_config_vector(&dev, 0xffff);
	}
	vdev_driver_ok(&dev);
	check(vdev_status(&dev) & VS_DRIVER_OK, "DRIVER_OK did not stick (status 0x%x)", vdev_status(&dev));

	/* GET_ID */
	uint32_t ul;
	memset(idbuf, 0, sizeof(idbuf));
	check(request(BLK_T_GET_ID, 0, idbuf, 20, true, &ul) == BLK_S_OK, "GET_ID failed");
	size_t idlen;
	const char *want_id = cmdline_value("id", &idlen);
	if (want_id)
		check(idlen == strlen(idbuf) && !memcmp(idbuf, want_id, idlen), "GET_ID says '%s'", idbuf);
	check(ul == 21, "GET_ID used length %u, expected 21", ul);

	/* Plain read of the first 4 KiB */
	check(request(BLK_T_IN, 0, buf[0], 4096, true, &ul) == BLK_S_OK, "read sector 0 failed");
	check(ul == 4097, "read used length %u, expected 4097", ul);
	check_pattern(buf[0], 0, 4096, "read 0");

	/* A read split over three descriptors, header and status in their own */
	{
		struct blk_hdr *h = &hdrs[1];
		h->type = BLK_T_IN;
		h->sector = 100;
		status[1] = 0xff;
		struct vbuf b[] = { { h, 16, false }, { buf[1], 512, true }, { buf[2], 1024, true },
				    { buf[3], 2560, true }, { &status[1], 1, true } };
		vq_add(&vq, b, 5);
		vq_kick(&vq);
		check(vq_wait(&vq, NULL, NULL, 10), "split read: no completion");
		check(status[1] == BLK_S_OK, "split read: status %u", status[1]);
		check_pattern(buf[1], 100 * 512, 512, "split read part 1");
		check_pattern(buf[2], 100 * 512 + 512, 1024, "split read part 2");
		check_pattern(buf[3], 100 * 512 + 1536, 2560, "split read part 3");
	}

	/* Indirect: one descriptor pointing at a table of header, data, status */
	if (feats & VF_INDIRECT) {
		struct blk_hdr *h = &hdrs[2];
		h->type = BLK_T_IN;
		h->sector = 7;
		status[2] = 0xff;
		indirect[0] = (struct vring_desc){ (uintptr_t)h, 16, VD_NEXT, 1 };
		indirect[1] = (struct vring_desc){ (uintptr_t)buf[4], 1024, VD_NEXT | VD_WRITE, 2 };
		indirect[2] = (struct vring_desc){ (uintptr_t)&status[2], 1, VD_WRITE, 0 };
		uint16_t d = vq.next_desc;
		vq.desc[d] = (struct vring_desc){ (uintptr_t)indirect, 3 * 16, VD_INDIRECT, 0 };
		vq.next_desc = (uint16_t)((d + 1) & (vq.size - 1));
		vq_publish(&vq, d);
		vq_kick(&vq);
		check(vq_wait(&vq, NULL, NULL, 10), "indirect read: no completion");
		check(status[2] == BLK_S_OK, "indirect read: status %u", status[2]);
		check_pattern(buf[4], 7 * 512, 1024, "indirect read");
	}

	/* 32 reads in flight at once */
	for (unsigned i = 0; i < 32; i++) {
		hdrs[i] = (struct blk_hdr){ BLK_T_IN, 0, 1000 + 8ull * i };
		status[i] = 0xff;
		struct vbuf b[] = { { &hdrs[i], 16, false }, { buf[i], 4096, true }, { &status[i], 1, true } };
		vq_add(&vq, b, 3);
	}
	vq_kick(&vq);
	for (unsigned i = 0; i < 32; i++)
		check(vq_wait(&vq, NULL, NULL, 10), "batch: only %u of 32 completed", i);
	for (unsigned i = 0; i < 32; i++) {
		check(status[i] == BLK_S_OK, "batch read %u: status %u", i, status[i]);
		check_pattern(buf[i], (1000 + 8ull * i) * 512, 4096, "batch read");
	}

	/* Out of range, misaligned length, unknown type */
	check(request(BLK_T_IN, cap, buf[0], 512, true, NULL) == BLK_S_IOERR, "read past the end did not fail");
	check(request(BLK_T_IN, cap - 1, buf[0], 1024, true, NULL) == BLK_S_IOERR, "read across the end did not fail");
	check(request(BLK_T_IN, 0, buf[0], 100, true, NULL) == BLK_S_IOERR, "read of 100 bytes did not fail");
	check(request(99, 0, NULL, 0, false, NULL) == BLK_S_UNSUPP, "unknown request type not UNSUPP");

	for (uint32_t i = 0; i < sizeof(big); i++)
		big[i] = pattern2(2048 * 512 + i);
	uint8_t s = request(BLK_T_OUT, 2048, big, sizeof(big), false, NULL);
	if (ro) {
		check(s == BLK_S_IOERR, "write to a read-only disk: status %u", s);
		uint8_t z = request(BLK_T_WRITE_ZEROES, 4096, NULL, 0, false, NULL);
		check(z != BLK_S_OK, "write-zeroes on a read-only disk succeeded");
		uint8_t rs = request(BLK_T_IN, 2048, big, sizeof(big), true, &ul);
		check(rs == BLK_S_OK, "read back failed: status %u", rs);
		check(ul == sizeof(big) + 1, "read back used length %u", ul);
		check_pattern(big, 2048 * 512, sizeof(big), "read-only disk changed");
	} else {
		check(s == BLK_S_OK, "write failed: status %u", s);
		memset(big, 0, sizeof(big));
		check(request(BLK_T_IN, 2048, big, sizeof(big), true, NULL) == BLK_S_OK, "read back failed");
		for (uint32_t i = 0; i < sizeof(big); i++)
			check(big[i] == pattern2(2048 * 512 + i), "read back byte %u is 0x%02x", i, big[i]);
		if (feats & BLK_F_FLUSH)
			check(request(BLK_T_FLUSH, 0, NULL, 0, false, NULL) == BLK_S_OK, "flush failed");
		/* write-zeroes and discard take one 16-byte segment each */
		static struct { uint64_t sector; uint32_t n, flags; } seg;
		seg.sector = 4096;
		seg.n = 8;
		seg.flags = 0;
		check(feats & BLK_F_WRITE_ZEROES, "write-zeroes not offered");
		check(request(BLK_T_WRITE_ZEROES, 0, &seg, 16, false, NULL) == BLK_S_OK, "write-zeroes failed");
		check(request(BLK_T_IN, 4096, buf[0], 4096, true, NULL) == BLK_S_OK, "read of zeroes failed");
		for (int i = 0; i < 4096; i++)
			check(buf[0][i] == 0, "write-zeroes left byte %d = 0x%02x", i, buf[0][i]);
		seg.sector = 8192;
		check(feats & BLK_F_DISCARD, "discard not offered");
		check(request(BLK_T_DISCARD, 0, &seg, 16, false, NULL) == BLK_S_OK, "discard failed");
		seg.sector = cap;
		check(request(BLK_T_DISCARD, 0, &seg, 16, false, NULL) == BLK_S_IOERR, "discard past the end did not fail");
		seg.sector = 0;
		seg.flags = 0x80;
		check(request(BLK_T_WRITE_ZEROES, 0, &seg, 16, false, NULL) == BLK_S_UNSUPP, "write-zeroes with bad flags not UNSUPP");
		check(request(BLK_T_OUT, 0, big, 100, false, NULL) == BLK_S_IOERR, "write of 100 bytes did not fail");
		/* sector 0 is still the pattern */
		check(request(BLK_T_IN, 0, buf[0], 512, true, NULL) == BLK_S_OK, "read failed");
		check_pattern(buf[0], 0, 512, "sector 0 after bad writes");
	}
	/* Let the last interrupt arrive */
	for (int i = 0; i < 200000 && !irqs; i++)
		pause();
	return 0;
}

void test_main(void)
{
	mmio = cmdline_is("transport", "mmio");
	ro = cmdline_int("ro", 0) != 0;
	intx = cmdline_int("intx", 0) != 0;
	bool found = vdev_find(VIRTIO_ID_BLOCK, mmio, &dev);
	check(found, "no virtio-blk device on %s", mmio ? "virtio-mmio" : "PCI");
	lapic_enable();
	set_handler(IRQ_VECTOR, on_irq);
	if (mmio)
		ioapic_route(20, IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	else if (intx) /* INTA of slot s: GSI 16 + s % 4 (the DSDT's _PRT; also in PCI_INTERRUPT_LINE) */
		ioapic_route(pci_cfg_read8(dev.slot, 0x3c), IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, 0, USER_IF);
	printf("virtio-blk irqs=%u\n", irqs);
	check(irqs > 0, "no interrupt arrived");
	pass();
}
