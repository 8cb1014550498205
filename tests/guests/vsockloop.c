/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vsockloop: vsock stream traffic that never ends, for snapshots taken mid-run
 * (tests/api/test_api_snapshot_io.py), on the ring-3 stack of virtio_vsock_common.h.
 * Two connections at a time:
 *   out  guest -> host: connects to host port P (<uds>_P), sends its pattern in chunks of up to
 *        3000 bytes and checks the host's echo of each before sending the next;
 *   in   host -> guest: accepts the host's REQUEST for port L ("CONNECT L" on <uds>), checks
 *        what arrives against the host's pattern and echoes it back.
 * Both streams start at offset 0 on each new connection. Progress:
 * "vsockloop gen=G out=N in=M" (bytes checked on this generation's connections), after every
 * 16 KiB in and every MiB out.
 *
 * After a snapshot is loaded the host side of every connection is gone: petrel puts
 * VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in the event queue. The guest then re-reads its CID, asks
 * each old connection that has not been reset yet for credit (a CREDIT_REQUEST), expects the
 * device to answer with a RST (it must not know them any more), drops them, prints
 * "vsockloop: transport reset, old connections reset (out=rst in=rst)" and opens the next
 * generation: a new connection to P from a new local port, and accepts a new one on L. A
 * connection reset at any other time fails the guest. The event must come with an interrupt
 * (a driver that sleeps would not see it otherwise): the event queue has its own MSI-X vector
 * (PCI) or the only interrupts on the MMIO line (the other queues ask for none).
 * Command line: transport=pci|mmio, cid=N, out_port=P, in_port=L.
 */
#include "virtio_vsock_common.h"

DEFINE_GUEST("vsockloop");

#define EVQ_VECTOR 0x44
#define CHUNK 3000
#define WINDOW 16384
#define PROGRESS_IN 16384
#define PROGRESS_OUT (1u << 20)  /* the guest's own stream runs much faster */

static uint8_t outbuf[CHUNK];
static uint8_t echobuf[TX_SLOTS][CHUNK]; /* a packet's payload stays put until the device took it */
static unsigned echo_slot;
static uint8_t out_rx[65536], in_rx[65536];
static uint32_t in_port, out_port;
static uint64_t want_cid;
static struct conn *out, *in;
static unsigned gen;
static uint32_t out_off, out_pending, in_off, printed;
static volatile uint32_t evq_irqs;
static uint32_t evq_irqs_seen;
static bool mmio;

static void on_evq_irq(struct irq_frame *f)
{
	(void)f;
	evq_irqs++;
	if (mmio)
		vdev_isr(&vdev);
}

static uint8_t out_pat(uint32_t i) { return (uint8_t)(i * 7u + (i >> 8) * 3u + 0x11u); }
static uint8_t in_pat(uint32_t i) { return (uint8_t)(i * 13u + (i >> 9) + 0x5bu); }

static void request(const struct vsock_hdr *h)
{
	if (h->op != OP_REQUEST)
		return;
	if (h->dst_port == in_port && !in) {
		check(h->src_port >= (1u << 30), "host port %u below 2^30", h->src_port);
		in = conn_new(in_port, h->src_port, WINDOW, in_rx, sizeof(in_rx));
		in->state = 1;
		in->peer_buf_alloc = h->buf_alloc;
		in->peer_fwd_cnt = h->fwd_cnt;
		send_pkt(in, OP_RESPONSE, 0, NULL, 0);
		return;
	}
	struct vsock_hdr r = { my_cid, HOST_CID, h->dst_port, h->src_port, 0, TYPE_STREAM, OP_RST, 0, 0, 0 };
	send_raw(&r, NULL, 0, 0);
}

static void connect_out(void)
{
	out = conn_new(1024 + gen, out_port, WINDOW, out_rx, sizeof(out_rx));
	send_pkt(out, OP_REQUEST, 0, NULL, 0);
	printf("vsockloop: gen=%u listening on %u, connecting to %u\n", gen, in_port, out_port);
}

static void transport_reset(void)
{
	uint64_t cid = vdev_cfg_read(&vdev, 0, 4) | (uint64_t)vdev_cfg_read(&vdev, 4, 4) << 32;
	check(cid == want_cid, "guest CID %lu after the transport reset, expected %lu", (unsigned long)cid,
	      (unsigned long)want_cid);
	struct conn *o = out, *i = in;
	out = in = NULL;
	gen++;
	out_off = out_pending = in_off = printed = 0;
	/* The device forgot our connections: asking one for credit must get a RST. */
	if (o && o->state != 2)
		send_pkt(o, OP_CREDIT_REQUEST, 0, NULL, 0);
	if (i && i->state != 2)
		send_pkt(i, OP_CREDIT_REQUEST, 0, NULL, 0);
	WAIT_FOR((!o || o->state == 2) && (!i || i->state == 2), 20,
		 "an old connection was not reset after the transport reset (out %d, in %d)", o ? o->state : -1,
		 i ? i->state : -1);
	printf("vsockloop: transport reset, old connections reset (out=%s in=%s)\n", o ? "rst" : "none",
	       i ? "rst" : "none");
	if (o)
		o->used = false;
	if (i)
		i->used = false;
	connect_out();
}

/* The event queue: TRANSPORT_RESET (id 0) is the only event there is. True if one came. */
static bool poll_events(void)
{
	uint32_t id, len;
	bool got = false;
	while (vq_poll(&evq, &id, &len)) {
		check(id < 8 && len >= 4, "event: used id %u length %u", id, len);
		uint32_t ev;
		memcpy(&ev, (const void *)(uintptr_t)evq.desc[id].addr, 4);
		check(ev == 0, "event id %u (only TRANSPORT_RESET, 0, exists)", ev);
		struct vbuf b = { (const void *)(uintptr_t)evq.desc[id].addr, 8, true };
		vq_add(&evq, &b, 1);
		vq_kick(&evq);
		WAIT_FOR(evq_irqs != evq_irqs_seen, 10, "the transport reset event came without an interrupt");
		evq_irqs_seen = evq_irqs;
		printf("vsockloop: transport reset event (gen %u)\n", gen);
		transport_reset();
		got = true;
	}
	return got;
}

/* A connection found reset: only a transport reset may do that. */
static void reset_seen(const char *which)
{
	if (!poll_events())
		fail("%s connection (gen %u) reset without a transport reset", which, gen);
}

static void step_out(void)
{
	if (out->state == 2) {
		reset_seen("out");
		return;
	}
	if (out->state != 1)
		return;
	if (!out_pending) {
		uint32_t k = credit(out) < CHUNK ? credit(out) : CHUNK;
		for (uint32_t i = 0; i < k; i++)
			outbuf[i] = out_pat(out_off + i);
		if (k) {
			send_pkt(out, OP_RW, 0, outbuf, k);
			out_pending = k;
		}
		return;
	}
	if (out->len < out_pending)
		return;
	check(out->len == out_pending, "out: echo of %u bytes for %u sent", out->len, out_pending);
	for (uint32_t i = 0; i < out_pending; i++)
		check(out_rx[i] == out_pat(out_off + i), "out: echo byte %u is 0x%02x, expected 0x%02x", out_off + i,
		      out_rx[i], out_pat(out_off + i));
	out_off += out_pending;
	out_pending = 0;
	out->len = 0;
	consume(out);
}

static void step_in(void)
{
	if (in->state == 2) {
		reset_seen("in");
		return;
	}
	if (!in->len)
		return;
	uint32_t k = in->len < credit(in) ? in->len : credit(in);
	if (k > CHUNK)
		k = CHUNK;
	if (!k)
		return;
	for (uint32_t i = 0; i < k; i++)
		check(in_rx[i] == in_pat(in_off + i), "in: byte %u is 0x%02x, expected 0x%02x", in_off + i, in_rx[i],
		      in_pat(in_off + i));
	uint8_t *e = echobuf[echo_slot++ % TX_SLOTS];
	memcpy(e, in_rx, k);
	send_pkt(in, OP_RW, 0, e, k);
	memmove(in_rx, in_rx + k, in->len - k);
	in->len -= k;
	in_off += k;
	consume(in);
}

static long body(long arg)
{
	(void)arg;
	vs_setup();
	rxq.avail[0] = txq.avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT: we poll those */
	if (!mmio) {
		*(volatile uint16_t *)(vdev.common + 0x16) = VSOCK_EVQ; /* queue_select */
		*(volatile uint16_t *)(vdev.common + 0x1a) = 0;         /* queue_msix_vector */
		vdev_msix_setup(&vdev, 0, EVQ_VECTOR);
	}
	evq_irqs_seen = evq_irqs;
	check(my_cid == want_cid, "config space guest_cid %lu, expected %lu", (unsigned long)my_cid,
	      (unsigned long)want_cid);
	on_request = request;
	connect_out();
	for (;;) {
		poll_events();
		unsigned n = vs_poll();
		if (out)
			step_out();
		if (in)
			step_in();
		uint32_t mark = out_off / PROGRESS_OUT + in_off / PROGRESS_IN;
		if (mark != printed) {
			printed = mark;
			printf("vsockloop gen=%u out=%u in=%u\n", gen, out_off, in_off);
		}
		if (!n)
			for (int i = 0; i < 100; i++)
				pause();
	}
	return 0;
}

void test_main(void)
{
	mmio = cmdline_is("transport", "mmio");
	in_port = (uint32_t)cmdline_int("in_port", 5000);
	out_port = (uint32_t)cmdline_int("out_port", 6000);
	want_cid = (uint64_t)cmdline_int("cid", 3);
	bool found = vdev_find(VIRTIO_ID_VSOCK, mmio, &vdev);
	check(found, "no virtio-vsock device on %s", mmio ? "virtio-mmio" : "PCI");
	lapic_enable();
	set_handler(EVQ_VECTOR, on_evq_irq);
	if (mmio)
		ioapic_route(20, EVQ_VECTOR, (uint8_t)lapic_id(), true, false);
	user_call(body, 0, USER_IF);
	pass();
}
