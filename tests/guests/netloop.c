/* SPDX-License-Identifier: Apache-2.0 */
/*
 * netloop: virtio-net traffic that never ends, for snapshots taken mid-run
 * (tests/api/test_api_snapshot_io.py). Ring 3, polling; receive interrupts are counted.
 * Frames use the test format of virtio_net_common.h.
 *
 * The host sends 'Q' frames numbered 0, 1, 2, ... (a window of them at a time, resent from
 * the oldest unanswered one after a timeout: frames queued in a tap that goes away with its
 * petrel are lost). The guest checks every byte, takes them in order and answers each with an
 * 'R' frame of the same number and length; a duplicate (a resend) is answered again, a frame
 * past the next expected one is dropped and counted as a gap. After every 16th new frame the
 * guest sends a 'G' frame numbered by its own counter: the host checks that those run on
 * without a gap or a repeat, across a snapshot too (a transmit chain is either written to the
 * tap before the pause or still in the ring for the restored petrel).
 * Every 64th new frame it prints "netloop q=N g=N dups=N gaps=N irqs=N".
 *
 * Receive buffers: 16 x 1 KiB with MRG_RXBUF (a full-size frame takes two), each given back
 * as soon as its frame is read. One the device took and did not return while 128 frames went
 * by fails the guest: the buffers petrel held for its next frame when the VM was paused must
 * have gone back to the ring (virtio-net's quiesce), or the restored device never uses them.
 *
 * With event_idx=1 it negotiates VIRTIO_F_EVENT_IDX: it asks for a receive interrupt at the
 * next used entry (used_event) and notifies only when the device's avail_event asks for it, so
 * the queues' event-index state must survive the snapshot too.
 *
 * beacon=N: also, unprompted, send a 'B' frame numbered 0, 1, 2, ... every N idle polls
 * (replication's output commit: a listener on the tap must see them with no gap or repeat
 * across a failover), and print "netloop beacon=N" every 256th.
 *
 * Command line: transport=pci|mmio, mac=MAC (config space must say it), event_idx=0|1, beacon=N.
 */
#include "virtio_net_common.h"

DEFINE_GUEST("netloop");

#define IRQ_VECTOR 0x43
#define QSIZE 256
#define NBUFS 16
#define BUFSIZE 1024
#define TX_SLOTS 32
#define MAX_FRAME 1514
#define STALE_FRAMES (8 * NBUFS)

static struct vdev dev;
static struct vq rxq, txq;
static struct vq_mem rxmem, txmem;
static uint8_t rxbuf[NBUFS][BUFSIZE] __attribute__((aligned(4096)));
static uint8_t txbuf[TX_SLOTS][NET_HDR_LEN + MAX_FRAME] __attribute__((aligned(64)));
static uint8_t frame[4 * BUFSIZE];
static uint32_t posted_at[NBUFS]; /* frames received when buffer b was given to the device */
static bool with_device[NBUFS];
static volatile uint32_t irqs;
static bool mmio, event_idx;
static uint16_t rx_kicked, tx_kicked; /* avail_idx at the last notification */
static uint8_t mac[6];
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static uint32_t frames, expect, gseq, dups, gaps, others;
static uint32_t tx_slot, tx_inflight;
static uint32_t beacon, bseq, idle;

static void on_irq(struct irq_frame *f)
{
	(void)f;
	irqs++;
	if (mmio)
		vdev_isr(&dev);
}

static void rx_post(unsigned b)
{
	rxq.desc[b] = (struct vring_desc){ (uintptr_t)rxbuf[b], BUFSIZE, VD_WRITE, 0 };
	vq_publish(&rxq, (uint16_t)b);
	posted_at[b] = frames;
	with_device[b] = true;
}

/* Notify the device of buffers added since the last time, if it wants to know. */
static void kick(struct vq *q, uint16_t *kicked)
{
	uint16_t old = *kicked, now = q->avail_idx;
	if (old == now)
		return;
	*kicked = now;
	if (event_idx) {
		__asm__ __volatile__("mfence" ::: "memory");
		uint16_t avail_event = *(volatile uint16_t *)(q->used + 4 + 8 * q->size);
		if ((uint16_t)(now - avail_event - 1) >= (uint16_t)(now - old))
			return;
	}
	vq_kick(q);
}

static void tx_reap(void)
{
	while (vq_poll(&txq, NULL, NULL))
		tx_inflight--;
}

static void tx_send(char kind, uint32_t seq, uint16_t len)
{
	tx_reap();
	if (tx_inflight >= TX_SLOTS - 1) {
		check(vq_wait(&txq, NULL, NULL, 60), "transmit completions stopped (%u in flight)", tx_inflight);
		tx_inflight--;
	}
	uint8_t *p = txbuf[tx_slot++ % TX_SLOTS];
	memset(p, 0, NET_HDR_LEN);
	net_build_frame(p + NET_HDR_LEN, bcast, mac, kind, seq, len);
	struct vbuf b = { p, (uint32_t)(NET_HDR_LEN + len), false };
	vq_add(&txq, &b, 1);
	tx_inflight++;
	kick(&txq, &tx_kicked);
}

/* The buffer's frame part (after the vnet header in the first buffer) into `frame`. */
static uint32_t take_buffer(uint32_t id, uint32_t len, uint32_t at, bool first)
{
	check(id < NBUFS && with_device[id], "used id %u: not a buffer the device had", id);
	check(len <= BUFSIZE && (!first || len >= NET_HDR_LEN), "buffer %u: used length %u", id, len);
	uint32_t skip = first ? NET_HDR_LEN : 0;
	check(at + len - skip <= sizeof(frame), "frame longer than %zu bytes", sizeof(frame));
	memcpy(frame + at, rxbuf[id] + skip, len - skip);
	with_device[id] = false;
	return len - skip;
}

/* One frame off the receive ring into `frame`: its length, or -1 if none is there. */
static long rx_frame(void)
{
	uint32_t id, len;
	if (!vq_poll(&rxq, &id, &len))
		return -1;
	if (event_idx)
		rxq.avail[2 + QSIZE] = rxq.last_used; /* an interrupt for the next one too */
	struct net_hdr h;
	check(id < NBUFS, "used id %u", id);
	memcpy(&h, rxbuf[id], sizeof(h));
	check(h.num_buffers >= 1 && h.num_buffers <= 4, "num_buffers %u", h.num_buffers);
	uint32_t flen = take_buffer(id, len, 0, true);
	rx_post(id);
	for (unsigned i = 1; i < h.num_buffers; i++) {
		check(vq_poll(&rxq, &id, &len), "frame of %u buffers: buffer %u not in the used ring", h.num_buffers, i);
		flen += take_buffer(id, len, flen, false);
		rx_post(id);
	}
	frames++;
	for (unsigned b = 0; b < NBUFS; b++)
		check(!with_device[b] || frames - posted_at[b] <= STALE_FRAMES,
		      "receive buffer %u never came back: given to the device %u frames ago", b, frames - posted_at[b]);
	return flen;
}

static void on_frame(uint32_t len)
{
	char kind;
	uint32_t seq;
	const char *why = net_check_frame(frame, len, &kind, &seq);
	if (why && !strcmp(why, "not a test frame")) {
		others++;
		return;
	}
	check(!why, "frame after q=%u (%u bytes): %s", expect, len, why);
	check(kind == 'Q' && len <= MAX_FRAME, "unexpected frame '%c' %u (%u bytes)", kind, seq, len);
	if (seq > expect) {
		if (gaps++ < 4)
			printf("netloop: gap: Q%u came, Q%u expected\n", seq, expect);
		return;
	}
	tx_send('R', seq, (uint16_t)len);
	if (seq < expect) {
		dups++;
		return;
	}
	expect++;
	if (expect % 16 == 0) {
		tx_send('G', gseq, (uint16_t)(60 + (gseq * 53) % 1455));
		gseq++;
	}
	if (expect % 64 == 0)
		printf("netloop q=%u g=%u dups=%u gaps=%u irqs=%u\n", expect, gseq, dups, gaps, irqs);
}

static long body(long arg)
{
	(void)arg;
	uint64_t want = VF_VERSION_1 | NET_F_MAC | NET_F_STATUS | NET_F_MRG_RXBUF | (event_idx ? VF_EVENT_IDX : 0), feats;
	check(vdev_negotiate(&dev, want, &feats), "device refused FEATURES_OK");
	check((feats & want) == want, "features 0x%lx offered of 0x%lx", (unsigned long)feats, (unsigned long)want);
	size_t ml;
	const char *ms = cmdline_value("mac", &ml);
	uint8_t want_mac[6];
	check(ms && net_parse_mac(ms, ml, want_mac), "mac= missing or malformed");
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)vdev_cfg_read(&dev, i, 1);
	check(!memcmp(mac, want_mac, 6), "config space has another MAC");
	check(vq_setup(&dev, &rxq, NET_RXQ, &rxmem, QSIZE, mmio ? 0xffff : 0), "rx queue setup failed");
	check(vq_setup(&dev, &txq, NET_TXQ, &txmem, QSIZE, 0xffff), "tx queue setup failed");
	if (!mmio) {
		vdev_msix_setup(&dev, 0, IRQ_VECTOR);
		vdev_set_config_vector(&dev, 0xffff);
	}
	vdev_driver_ok(&dev);
	check(vdev_status(&dev) & VS_DRIVER_OK, "DRIVER_OK did not stick");
	if (event_idx)
		txq.avail[2 + QSIZE] = 0xffff; /* no transmit interrupts (for a long while) */
	for (unsigned b = 0; b < NBUFS; b++)
		rx_post(b);
	vq_kick(&rxq);
	rx_kicked = rxq.avail_idx;
	printf("netloop: ready%s\n", event_idx ? " (event_idx)" : "");
	for (;;) {
		long len = rx_frame();
		if (len >= 0) {
			on_frame((uint32_t)len);
			continue;
		}
		kick(&rxq, &rx_kicked);
		tx_reap();
		if (beacon && ++idle >= beacon) {
			idle = 0;
			tx_send('B', bseq, 60);
			if (++bseq % 256 == 0)
				printf("netloop beacon=%u\n", bseq);
		}
		pause();
	}
	return 0;
}

void test_main(void)
{
	mmio = cmdline_is("transport", "mmio");
	event_idx = cmdline_int("event_idx", 0) != 0;
	beacon = (uint32_t)cmdline_int("beacon", 0);
	bool found = vdev_find(VIRTIO_ID_NET, mmio, &dev);
	check(found, "no virtio-net device on %s", mmio ? "virtio-mmio" : "PCI");
	lapic_enable();
	set_handler(IRQ_VECTOR, on_irq);
	if (mmio)
		ioapic_route(20, IRQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, 0, USER_IF);
	pass();
}
