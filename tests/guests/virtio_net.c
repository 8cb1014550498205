/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_net: drives a virtio-net device from ring 3; tests/virtio/test_net.py sits on the
 * host side of the tap with a packet socket (frame format: virtio_net_common.h).
 * Command line:
 *   transport=pci|mmio   (default pci)
 *   mac=aa:bb:cc:dd:ee:ff  the MAC petrel was given: config space must say it
 *   mrg=0                do not negotiate MRG_RXBUF (one buffer per frame)
 *   bufsize=N            receive buffer size (default 1024: full frames need 2 with MRG)
 *   rxbufs=N             receive buffers posted (default 16)
 *   out=N                data frames to send (default 32)
 *   in=N                 data frames to expect from the host (default 200)
 *   hold_ms=N            take no frame before the ring is full, then wait this long before
 *                        giving buffers back (default 200): the host's burst must wait in the
 *                        tap, not be lost
 * Sends 'H', then `out` frames of 60..1514 bytes (header and payload in 1, 2 or 3
 * descriptors), expects `in` frames in order with intact payloads, sends 'E' with the count.
 * Prints "virtio-net rx=N tx=N merged=N irqs=N" and "ok virtio_net".
 */
#include "virtio_net_common.h"

DEFINE_GUEST("virtio_net");

#define IRQ_VECTOR 0x42
#define RXQ_SIZE 256
#define TXQ_SIZE 64
#define MAX_RXBUFS 120
#define MAX_BUFSIZE 4096
#define TX_SLOTS 16

static struct vdev dev;
static struct vq rxq, txq;
static struct vq_mem rxmem, txmem;
static uint8_t rxbuf[MAX_RXBUFS][MAX_BUFSIZE] __attribute__((aligned(4096)));
static uint8_t txbuf[TX_SLOTS][2048] __attribute__((aligned(4096)));
static struct net_hdr txhdr[TX_SLOTS];
static uint8_t frame[65536 + 64];
static volatile uint32_t irqs;
static bool mmio, mrg;
static long bufsize, nbufs, nout, nin, hold_ms;
static uint8_t mac[6], bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint32_t received, merged, others, sent;
static uint64_t tsc_hz;

static void on_irq(struct irq_frame *f)
{
	irqs++;
	if (mmio)
		vdev_isr(&dev);
}

/* Receive buffer b uses descriptor 2b (and 2b+1 for buffer 0, whose first 6 bytes sit in a
 * descriptor of their own: the vnet header split across descriptors). */
static void rx_post(unsigned b)
{
	uint16_t d = (uint16_t)(2 * b);
	if (b == 0) {
		rxq.desc[d] = (struct vring_desc){ (uintptr_t)rxbuf[b], 6, VD_WRITE | VD_NEXT, (uint16_t)(d + 1) };
		rxq.desc[d + 1] = (struct vring_desc){ (uintptr_t)rxbuf[b] + 6, (uint32_t)bufsize - 6, VD_WRITE, 0 };
	} else {
		rxq.desc[d] = (struct vring_desc){ (uintptr_t)rxbuf[b], (uint32_t)bufsize, VD_WRITE, 0 };
	}
	vq_publish(&rxq, d);
}

static void spin_ms(long ms)
{
	uint64_t end = rdtsc() + tsc_hz / 1000 * (uint64_t)ms;
	while (rdtsc() < end)
		pause();
}

/* Send one frame of len bytes, split into `parts` descriptors (1: header and frame together). */
static void tx_frame(char kind, uint32_t seq, uint16_t len, unsigned parts)
{
	static unsigned slot;
	static uint32_t inflight;
	uint32_t id;
	while (inflight >= TX_SLOTS - 1) {
		check(vq_wait(&txq, &id, NULL, 10), "transmit completions stopped (%u in flight)", inflight);
		inflight--;
	}
	unsigned s = slot++ % TX_SLOTS;
	uint8_t *p = txbuf[s];
	memset(&txhdr[s], 0, sizeof(txhdr[s]));
	if (parts == 1) {
		memset(p, 0, NET_HDR_LEN);
		net_build_frame(p + NET_HDR_LEN, bcast, mac, kind, seq, len);
		struct vbuf b[] = { { p, (uint32_t)(NET_HDR_LEN + len), false } };
		vq_add(&txq, b, 1);
	} else if (parts == 2) {
		net_build_frame(p, bcast, mac, kind, seq, len);
		struct vbuf b[] = { { &txhdr[s], NET_HDR_LEN, false }, { p, len, false } };
		vq_add(&txq, b, 2);
	} else {
		net_build_frame(p, bcast, mac, kind, seq, len);
		struct vbuf b[] = { { &txhdr[s], 5, false }, { (uint8_t *)&txhdr[s] + 5, NET_HDR_LEN - 5, false },
				    { p, len, false } };
		vq_add(&txq, b, 3);
	}
	inflight++;
	sent++;
	vq_kick(&txq);
}

/* Take one frame off the receive ring (reassembling merged buffers) into `frame`. Returns its
 * length (without the vnet header), or -1 if nothing arrived within `seconds`. */
static long rx_frame(int seconds, unsigned *nbuf_out)
{
	uint32_t id, len;
	if (!vq_wait(&rxq, &id, &len, seconds))
		return -1;
	unsigned b = id / 2;
	check(id % 2 == 0 && b < (unsigned)nbufs, "used id %u is not a buffer head", id);
	check(len >= NET_HDR_LEN && len <= (uint32_t)bufsize, "first buffer: used length %u", len);
	struct net_hdr h;
	memcpy(&h, rxbuf[b], sizeof(h));
	unsigned nb = mrg ? h.num_buffers : 1;
	check(nb >= 1 && nb <= 64, "num_buffers %u", nb);
	check(mrg || h.num_buffers == 1, "num_buffers %u without MRG_RXBUF (must be 1)", h.num_buffers);
	check(h.gso_type == 0, "gso_type %u on a plain frame", h.gso_type);
	uint32_t flen = len - NET_HDR_LEN;
	memcpy(frame, rxbuf[b] + NET_HDR_LEN, flen);
	rx_post(b);
	for (unsigned i = 1; i < nb; i++) {
		check(vq_poll(&rxq, &id, &len), "frame of %u buffers: buffer %u not in the used ring", nb, i);
		b = id / 2;
		check(id % 2 == 0 && b < (unsigned)nbufs && len <= (uint32_t)bufsize, "merged buffer id %u len %u", id, len);
		check(flen + len <= sizeof(frame), "merged frame too long");
		memcpy(frame + flen, rxbuf[b], len);
		flen += len;
		rx_post(b);
	}
	if (nb > 1)
		merged++;
	*nbuf_out = nb;
	return flen;
}

static long body(long arg)
{
	(void)arg;
	if (hold_ms) {
		/* TSC rate from one RTC second (for hold_ms) */
		uint8_t s0 = rtc_read(0);
		while (rtc_read(0) == s0)
			;
		uint64_t t0 = rdtsc();
		s0 = rtc_read(0);
		while (rtc_read(0) == s0)
			;
		tsc_hz = rdtsc() - t0;
	}
	uint64_t want = VF_VERSION_1 | NET_F_MAC | NET_F_STATUS | (mrg ? NET_F_MRG_RXBUF : 0);
	uint64_t feats;
	check(vdev_negotiate(&dev, want, &feats), "device refused FEATURES_OK");
	check(!mrg || (feats & NET_F_MRG_RXBUF), "MRG_RXBUF not offered");
	check(feats & NET_F_STATUS, "STATUS not offered");
	size_t ml;
	const char *ms = cmdline_value("mac", &ml);
	if (ms) {
		uint8_t want_mac[6];
		check(net_parse_mac(ms, ml, want_mac), "bad mac= on the command line");
		check(feats & NET_F_MAC, "MAC not offered though petrel was given one");
		for (unsigned i = 0; i < 6; i++)
			mac[i] = (uint8_t)vdev_cfg_read(&dev, i, 1);
		check(!memcmp(mac, want_mac, 6), "config space MAC %02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		      mac[2], mac[3], mac[4], mac[5]);
	} else {
		mac[0] = 0x02;
		mac[5] = 0x42;
	}
	uint16_t status = (uint16_t)vdev_cfg_read(&dev, 6, 2);
	check(status & 1, "link is down (status 0x%x)", status);

	check(vq_setup(&dev, &rxq, NET_RXQ, &rxmem, RXQ_SIZE, mmio ? 0xffff : 0), "rx queue setup failed");
	check(vq_setup(&dev, &txq, NET_TXQ, &txmem, TXQ_SIZE, 0xffff), "tx queue setup failed");
	if (!mmio) {
		vdev_msix_setup(&dev, 0, IRQ_VECTOR);
		vdev_set_config_vector(&dev, 0xffff);
	}
	vdev_driver_ok(&dev);
	check(vdev_status(&dev) & VS_DRIVER_OK, "DRIVER_OK did not stick");
	for (long b = 0; b < nbufs; b++)
		rx_post((unsigned)b);
	vq_kick(&rxq);

	/* guest -> host */
	tx_frame('H', 0, 60, 2);
	for (uint32_t s = 0; s < (uint32_t)nout; s++)
		tx_frame('D', s, (uint16_t)(60 + (s * 331) % 1455), 1 + s % 3);

	/* host -> guest: the host starts its burst once it has our frames. With hold_ms, take no
	 * frame before the ring is full: a guest taking frames as they come may keep up with the
	 * host (a fast one did) and never make petrel wait. A frame takes at most two buffers, so
	 * the ring is full at nbufs - 1 used when the next frame needs two. Then hold it full: the
	 * rest of the burst (in > rxbufs) must wait in the tap, not be lost. */
	if (hold_ms && nin >= nbufs) {
		uint64_t give_up = rdtsc() + 20 * tsc_hz;
		while ((uint16_t)(vq_used_idx(&rxq) - rxq.last_used) < (uint16_t)(nbufs - 1)) {
			check(rdtsc() < give_up, "the receive ring did not fill in 20 s (%u of %ld buffers used)",
			      (unsigned)(uint16_t)(vq_used_idx(&rxq) - rxq.last_used), nbufs);
			pause();
		}
		spin_ms(hold_ms);
	}
	while (received < (uint32_t)nin) {
		unsigned nb;
		long len = rx_frame(20, &nb);
		check(len >= 0, "received %u of %ld frames, then nothing for 20 s", received, nin);
		vq_kick(&rxq);
		char kind;
		uint32_t seq;
		const char *why = net_check_frame(frame, (uint32_t)len, &kind, &seq);
		if (why && !strcmp(why, "not a test frame")) {
			others++;
			continue;
		}
		check(!why, "frame %u (%ld bytes, %u buffers): %s", received, len, nb, why);
		check(kind == 'D' && seq == received, "expected data frame %u, got '%c' %u", received, kind, seq);
		check(!memcmp(frame, mac, 6), "frame %u not addressed to us", seq);
		received++;
	}
	tx_frame('E', received, 60, 2);
	/* Let the last frames go out. */
	for (int i = 0; i < 2000000 && txq.last_used != txq.avail_idx; i++) {
		uint32_t id;
		if (!vq_poll(&txq, &id, NULL))
			pause();
	}
	for (int i = 0; i < 200000 && !irqs; i++)
		pause();
	return 0;
}

void test_main(void)
{
	mmio = cmdline_is("transport", "mmio");
	mrg = cmdline_int("mrg", 1) != 0;
	bufsize = cmdline_int("bufsize", 1024);
	nbufs = cmdline_int("rxbufs", 16);
	nout = cmdline_int("out", 32);
	nin = cmdline_int("in", 200);
	hold_ms = cmdline_int("hold_ms", 200);
	check(bufsize >= 64 && bufsize <= MAX_BUFSIZE, "bad bufsize=%ld", bufsize);
	check(nbufs >= 1 && nbufs <= MAX_RXBUFS, "bad rxbufs=%ld", nbufs);
	bool found = vdev_find(VIRTIO_ID_NET, mmio, &dev);
	check(found, "no virtio-net device on %s", mmio ? "virtio-mmio" : "PCI");
	lapic_enable();
	set_handler(IRQ_VECTOR, on_irq);
	if (mmio)
		ioapic_route(20, IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, 0, USER_IF);
	printf("virtio-net rx=%u tx=%u merged=%u others=%u irqs=%u\n", received, sent, merged, others, irqs);
	check(irqs > 0, "no receive interrupt arrived");
	pass();
}
