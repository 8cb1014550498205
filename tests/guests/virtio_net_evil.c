/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_net_evil: a hostile virtio-net driver. Each case sends something malformed and
 * checks petrel returns the buffer (or marks the device NEEDS_RESET) and keeps working:
 *   transmit: chains shorter than the vnet header, with no readable part, longer than any
 *     frame, with GSO/checksum headers the kernel refuses, a header split over 3
 *     descriptors (one empty), a descriptor loop (-> NEEDS_RESET, then reset);
 *   receive: buffers smaller than the header, device-readable only, readable + writable,
 *     a ring address outside RAM (-> NEEDS_RESET), config space writes and reads past it.
 * Then, after a reset, it proves the device still works: a hello frame out, and one frame
 * in (tests/virtio/test_net.py sends D7, 200 bytes) received into 16-byte mergeable buffers
 * offered 3 at a time at first: petrel must wait for enough buffers, never deliver a part.
 * Command line: transport=pci|mmio mac=...   Prints "virtio-net-evil cases=N".
 */
#include "virtio_net_common.h"

DEFINE_GUEST("virtio_net_evil");

#define QSIZE 64
#define EVIL_ETHERTYPE 0x1234

static struct vdev dev;
static struct vq rxq, txq;
static struct vq_mem rxmem, txmem;
static uint8_t big[72 * 1024] __attribute__((aligned(4096)));
static uint8_t buf[64][64] __attribute__((aligned(64)));
static uint8_t frame[2048];
static uint8_t mac[6];
static bool mmio;
static unsigned cases;

static void setup(uint64_t extra)
{
	uint64_t f;
	check(vdev_negotiate(&dev, VF_VERSION_1 | NET_F_MAC | extra, &f), "FEATURES_OK refused");
	check(vq_setup(&dev, &rxq, NET_RXQ, &rxmem, QSIZE, 0xffff), "rx queue setup");
	check(vq_setup(&dev, &txq, NET_TXQ, &txmem, QSIZE, 0xffff), "tx queue setup");
	vdev_driver_ok(&dev);
	check(vdev_status(&dev) & VS_DRIVER_OK, "DRIVER_OK did not stick");
}

/* Submit a transmit chain; it must come back (used) and the device stay healthy. */
static void tx_case(const char *what, const struct vbuf *b, unsigned n)
{
	uint16_t head = vq_add(&txq, b, n);
	vq_kick(&txq);
	uint32_t id, len;
	check(vq_wait(&txq, &id, &len, 5), "%s: the transmit chain never came back", what);
	check(id == head, "%s: used id %u, expected %u", what, id, head);
	check(!vdev_broken(&dev), "%s: device broke (NEEDS_RESET) over a well-formed chain", what);
	cases++;
}

static void rx_case(const char *what, const struct vbuf *b, unsigned n)
{
	uint16_t head = vq_add(&rxq, b, n);
	vq_kick(&rxq);
	uint32_t id, len;
	check(vq_wait(&rxq, &id, &len, 5), "%s: petrel kept an unusable receive buffer", what);
	check(id == head && len == 0, "%s: used id %u len %u, expected %u len 0", what, id, len, head);
	check(!vdev_broken(&dev), "%s: device broke", what);
	cases++;
}

static void evil_frame(uint8_t *p, uint32_t len)
{
	memset(p, 0, len);
	memset(p, 0xff, 6);
	memcpy(p + 6, mac, 6);
	p[12] = EVIL_ETHERTYPE >> 8;
	p[13] = EVIL_ETHERTYPE & 0xff;
}

static void wait_broken(const char *what)
{
	check(vdev_wait_broken(&dev, 5), "%s: device did not set NEEDS_RESET", what);
	cases++;
}

static long body(long arg)
{
	(void)arg;
	setup(0);
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)vdev_cfg_read(&dev, i, 1);

	/* ---- transmit ---- */
	static struct net_hdr h;
	memset(&h, 0, sizeof(h));
	{
		struct vbuf b[] = { { &h, 5, false } };
		tx_case("5-byte chain", b, 1);
	}
	{
		struct vbuf b[] = { { buf[0], 64, true } };
		tx_case("writable-only chain", b, 1);
	}
	{
		memset(big, 0, 12);
		evil_frame(big + 12, sizeof(big) - 12);
		struct vbuf b[] = { { big, sizeof(big), false } };
		tx_case("72 KiB frame", b, 1);
	}
	{
		static struct net_hdr gso;
		gso = (struct net_hdr){ .gso_type = 1 /* TCPV4 */, .hdr_len = 9999, .gso_size = 0 };
		evil_frame(frame, 100);
		struct vbuf b[] = { { &gso, 12, false }, { frame, 100, false } };
		tx_case("GSO header on a non-TCP frame", b, 2);
	}
	{
		static struct net_hdr cs;
		cs = (struct net_hdr){ .flags = 1 /* NEEDS_CSUM */, .csum_start = 5000, .csum_offset = 60000 };
		evil_frame(frame, 100);
		struct vbuf b[] = { { &cs, 12, false }, { frame, 100, false } };
		tx_case("checksum offsets past the frame", b, 2);
	}
	{
		evil_frame(frame, 80);
		struct vbuf b[] = { { &h, 3, false }, { buf[1], 0, false }, { (uint8_t *)&h + 3, 9, false },
				    { frame, 80, false } };
		tx_case("header in three descriptors (one empty)", b, 4);
	}

	/* ---- receive ---- */
	{
		struct vbuf b[] = { { buf[2], 4, true } };
		rx_case("4-byte receive buffer", b, 1);
	}
	{
		struct vbuf b[] = { { buf[3], 64, false } };
		rx_case("device-readable receive buffer", b, 1);
	}

	/* config space: MAC writes are ignored, reads past the end are zero */
	if (!mmio) {
		*(volatile uint8_t *)(dev.devcfg + 0) = (uint8_t)(mac[0] ^ 0xff);
		check((uint8_t)vdev_cfg_read(&dev, 0, 1) == mac[0], "config space MAC was writable");
		cases++;
	}

	/* ---- breaking the rings ---- */
	{
		uint16_t d = txq.next_desc;
		txq.desc[d] = (struct vring_desc){ (uintptr_t)&h, 12, VD_NEXT, d };
		txq.next_desc = (uint16_t)((d + 1) & (QSIZE - 1));
		vq_publish(&txq, d);
		vq_kick(&txq);
		wait_broken("transmit descriptor loop");
	}
	vdev_reset(&dev);
	{
		uint64_t f;
		check(vdev_negotiate(&dev, VF_VERSION_1, &f), "FEATURES_OK refused");
		/* 0xfff00000 is in the MMIO hole: not RAM */
		vq_setup_raw(&dev, NET_RXQ, QSIZE, 0xfff00000ull, 0xfff10000ull, 0xfff20000ull, true);
		wait_broken("receive ring outside RAM");
	}

	/* ---- after a reset, the device works ---- */
	vdev_reset(&dev);
	setup(NET_F_MRG_RXBUF);
	{
		static struct net_hdr hh;
		static uint8_t hello[60];
		net_build_frame(hello, (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, mac, 'H', 0, 60);
		struct vbuf b[] = { { &hh, 12, false }, { hello, 60, false } };
		tx_case("hello", b, 2);
	}
	/* 3 x 16 bytes cannot hold the host's 200-byte frame: nothing may be used yet */
	for (unsigned i = 0; i < 3; i++) {
		struct vbuf b[] = { { buf[10 + i], 16, true } };
		vq_add(&rxq, b, 1);
	}
	vq_kick(&rxq);
	uint32_t id, len;
	struct deadline dl;
	deadline_start(&dl, 2); /* the host answers the hello within this */
	while (!deadline_expired(&dl))
		for (int i = 0; i < 100000; i++)
			check(!vq_poll(&rxq, &id, &len), "petrel delivered part of a frame (id %u len %u)", id, len);
	for (unsigned i = 3; i < 20; i++) {
		struct vbuf b[] = { { buf[10 + i], 16, true } };
		vq_add(&rxq, b, 1);
	}
	vq_kick(&rxq);
	check(vq_wait(&rxq, &id, &len, 20), "the host's frame never arrived");
	struct net_hdr rh;
	memcpy(&rh, buf[10 + id], sizeof(rh));
	check(id == 0 && len == 16, "first buffer: id %u len %u", id, len);
	unsigned nb = rh.num_buffers;
	check(nb == (212 + 15) / 16, "num_buffers %u for a 212-byte frame in 16-byte buffers", nb);
	uint32_t flen = len - NET_HDR_LEN;
	memcpy(frame, buf[10] + NET_HDR_LEN, flen);
	for (unsigned i = 1; i < nb; i++) {
		check(vq_poll(&rxq, &id, &len), "buffer %u of %u missing", i, nb);
		check(id == i && len <= 16, "buffer %u: id %u len %u", i, id, len);
		memcpy(frame + flen, buf[10 + id], len);
		flen += len;
	}
	char kind;
	uint32_t seq;
	const char *why = net_check_frame(frame, flen, &kind, &seq);
	check(!why, "received frame: %s", why);
	check(kind == 'D' && seq == 7 && flen == 200, "received %c%u, %u bytes", kind, seq, flen);
	cases++;
	return 0;
}

void test_main(void)
{
	mmio = cmdline_is("transport", "mmio");
	bool found = vdev_find(VIRTIO_ID_NET, mmio, &dev);
	check(found, "no virtio-net device on %s", mmio ? "virtio-mmio" : "PCI");
	user_call(body, 0, USER_IF);
	printf("virtio-net-evil cases=%u\n", cases);
	pass();
}
