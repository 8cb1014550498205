/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_vsock_evil: a hostile virtio-vsock driver. Every case must end with petrel
 * answering sensibly (RST, a dropped packet, NEEDS_RESET) and going on working:
 *   packets shorter than the header; a header split over 44 one-byte descriptors (legal:
 *   must work); unknown op and socket type; foreign source or destination CIDs (dropped);
 *   data and RESPONSE for connections that do not exist; len larger than the payload, and
 *   len 0xffffffff; a duplicate REQUEST; sending past petrel's credit to a host socket that
 *   never reads (-> RST, never unbounded buffering); buf_alloc 0xffffffff with a fwd_cnt
 *   from the future (petrel must still only fill the buffers it gets); CREDIT_REQUEST;
 *   receive buffers smaller than a header; a descriptor loop (-> NEEDS_RESET, reset).
 * Ends with an echo through host port 7001. tests/virtio/test_vsock.py provides <uds>_7000
 * (accepts, never reads) and <uds>_7001 (echo).
 * Command line: transport=pci|mmio cid=N.  Prints "virtio-vsock-evil cases=N".
 */
#include "virtio_vsock_common.h"

DEFINE_GUEST("virtio_vsock_evil");

static unsigned cases;
static struct vsock_hdr stray;   /* last packet for no known connection */
static unsigned nstray;
static uint8_t junk[4096];
static uint8_t echo_in[64];

static void on_stray(const struct vsock_hdr *h)
{
	stray = *h;
	nstray++;
}

static void hdr(struct vsock_hdr *h, uint32_t lport, uint32_t pport, uint16_t op, uint32_t len)
{
	*h = (struct vsock_hdr){ my_cid, HOST_CID, lport, pport, len, TYPE_STREAM, op, 0, 65536, 0 };
}

/* Send a raw packet, expect a RST for (lport, pport) back. */
static void expect_rst(const char *what, const struct vsock_hdr *h, const void *data, uint32_t len)
{
	unsigned before = nstray;
	send_raw(h, data, len, 0);
	WAIT_FOR(nstray != before, 5, "%s: no answer", what);
	check(stray.op == OP_RST && stray.dst_port == h->src_port && stray.src_port == h->dst_port,
	      "%s: answered op %u ports %u->%u", what, stray.op, stray.src_port, stray.dst_port);
	check(!vdev_broken(&vdev), "%s: device broke", what);
	cases++;
}

/* Send a packet that must be dropped without an answer. */
static void expect_silence(const char *what, const struct vsock_hdr *h, const void *data, uint32_t len)
{
	unsigned before = nstray;
	send_raw(h, data, len, 0);
	struct deadline dl;
	deadline_start(&dl, 1);
	while (!deadline_expired(&dl))
		vs_poll();
	check(nstray == before, "%s: petrel answered (op %u)", what, stray.op);
	check(!vdev_broken(&vdev), "%s: device broke", what);
	cases++;
}

static struct conn *open_conn(uint32_t lport, uint32_t pport, uint32_t buf_alloc, uint8_t *data, uint32_t cap)
{
	struct conn *c = conn_new(lport, pport, buf_alloc, data, cap);
	send_pkt(c, OP_REQUEST, 0, NULL, 0);
	WAIT_FOR(c->state != 0, 5, "port %u: no answer to REQUEST", pport);
	check(c->state == 1, "port %u refused", pport);
	return c;
}

static void expect_conn_rst(const char *what, struct conn *c)
{
	WAIT_FOR(c->state == 2, 10, "%s: petrel did not reset the connection", what);
	check(!vdev_broken(&vdev), "%s: device broke", what);
	c->used = false;
	cases++;
}

static long body(long arg)
{
	(void)arg;
	vs_setup();
	on_request = on_stray;
	struct vsock_hdr h;

	/* 1. shorter than a header: dropped, buffer returned */
	{
		uint16_t head = vq_add(&txq, &(struct vbuf){ junk, 20, false }, 1);
		vq_kick(&txq);
		uint32_t id;
		check(vq_wait(&txq, &id, NULL, 5) && id == head, "20-byte packet not returned");
		check(!vdev_broken(&vdev), "20-byte packet broke the device");
		cases++;
	}
	/* 2. a header in 44 one-byte descriptors: legal, must connect */
	{
		static struct vsock_hdr split;
		hdr(&split, 2000, 7001, OP_REQUEST, 0);
		struct vbuf b[HDR];
		for (unsigned i = 0; i < HDR; i++)
			b[i] = (struct vbuf){ (uint8_t *)&split + i, 1, false };
		struct conn *c = conn_new(2000, 7001, 65536, NULL, 0);
		vq_add(&txq, b, HDR);
		tx_inflight++;
		vq_kick(&txq);
		WAIT_FOR(c->state != 0, 5, "split header REQUEST: no answer");
		check(c->state == 1, "split header REQUEST refused");
		send_pkt(c, OP_RST, 0, NULL, 0);
		c->used = false;
		cases++;
	}
	/* 3. unknown socket type, unknown op, RW / RESPONSE / CREDIT_REQUEST for no connection */
	hdr(&h, 2001, 7000, OP_REQUEST, 0);
	h.type = 2; /* SEQPACKET: not offered */
	expect_rst("SEQPACKET REQUEST", &h, NULL, 0);
	hdr(&h, 2002, 7000, 99, 0);
	expect_rst("op 99 for no connection", &h, NULL, 0);
	hdr(&h, 2003, 7000, OP_RW, 10);
	expect_rst("RW for no connection", &h, junk, 10);
	hdr(&h, 2004, 7000, OP_RESPONSE, 0);
	expect_rst("RESPONSE for no connection", &h, NULL, 0);
	/* 4. len 0xffffffff with no payload */
	hdr(&h, 2005, 7000, OP_RW, 0xffffffffu);
	expect_rst("len 0xffffffff", &h, NULL, 0);
	/* 5. foreign CIDs: dropped */
	hdr(&h, 2006, 7000, OP_REQUEST, 0);
	h.src_cid = my_cid + 1;
	expect_silence("spoofed source CID", &h, NULL, 0);
	hdr(&h, 2007, 7000, OP_REQUEST, 0);
	h.dst_cid = 7;
	expect_silence("destination CID 7", &h, NULL, 0);
	hdr(&h, 2008, 7000, OP_RST, 0);
	expect_silence("RST for no connection", &h, NULL, 0);

	/* 6. on live connections: op 99, len past the payload, duplicate REQUEST */
	{
		struct conn *c = open_conn(2100, 7000, 65536, NULL, 0);
		send_pkt(c, 99, 0, NULL, 0);
		expect_conn_rst("op 99", c);
		c = open_conn(2101, 7000, 65536, NULL, 0);
		struct vsock_hdr bad = { my_cid, HOST_CID, 2101, 7000, 1000, TYPE_STREAM, OP_RW, 0, 65536, 0 };
		send_raw(&bad, junk, 10, 0);
		expect_conn_rst("len 1000 with 10 bytes of payload", c);
		c = open_conn(2102, 7000, 65536, NULL, 0);
		send_pkt(c, OP_REQUEST, 0, NULL, 0);
		expect_conn_rst("duplicate REQUEST", c);
	}
	/* 7. credit: CREDIT_REQUEST is answered; data past the credit to a host socket that
	 *    never reads is reset, not buffered without end */
	{
		struct conn *c = open_conn(2200, 7000, 65536, NULL, 0);
		uint32_t before = c->credit_updates_seen;
		send_pkt(c, OP_CREDIT_REQUEST, 0, NULL, 0);
		WAIT_FOR(c->credit_updates_seen != before, 5, "no CREDIT_UPDATE for CREDIT_REQUEST");
		cases++;
		uint32_t sent = 0;
		while (c->state == 1 && sent < 4u * 1024 * 1024) {
			send_pkt(c, OP_RW, 0, junk, sizeof(junk));
			sent += sizeof(junk);
			vs_poll();
		}
		expect_conn_rst("sending past the credit", c);
		printf("vsock-evil: reset after %u bytes past a non-reading host socket\n", sent);
	}
	/* 8. buf_alloc 0xffffffff, fwd_cnt from the future: the echo still fits our buffers */
	{
		struct conn *c = conn_new(2300, 7001, 0xffffffffu, echo_in, sizeof(echo_in));
		c->fwd_cnt = 0x80000000u;
		send_pkt(c, OP_REQUEST, 0, NULL, 0);
		WAIT_FOR(c->state != 0, 5, "huge buf_alloc: no answer");
		check(c->state == 1, "huge buf_alloc: refused");
		c->rx_cnt = c->fwd_cnt; /* our own bookkeeping matches what we claimed */
		send_pkt(c, OP_RW, 0, "0123456789", 10);
		send_pkt(c, OP_SHUTDOWN, SHUT_SEND, NULL, 0);
		WAIT_FOR(c->len == 10 && (c->peer_shut & SHUT_SEND), 10, "echo with huge buf_alloc: %u bytes", c->len);
		check(!memcmp(echo_in, "0123456789", 10), "echo differs");
		send_pkt(c, OP_RST, 0, NULL, 0);
		c->used = false;
		cases++;
	}
	/* 9. receive buffers smaller than a header are returned empty */
	{
		vdev_reset(&vdev);
		uint64_t f;
		check(vdev_negotiate(&vdev, VF_VERSION_1, &f), "FEATURES_OK refused");
		check(vq_setup(&vdev, &rxq, VSOCK_RXQ, &rxmem, RXQ_SIZE, 0xffff), "rx queue setup");
		check(vq_setup(&vdev, &txq, VSOCK_TXQ, &txmem, TXQ_SIZE, 0xffff), "tx queue setup");
		vdev_driver_ok(&vdev);
		tx_inflight = 0;
		uint16_t head = vq_add(&rxq, &(struct vbuf){ junk, 20, true }, 1);
		vq_kick(&rxq);
		hdr(&h, 2400, 9999, OP_REQUEST, 0); /* nobody there: petrel has a RST to give */
		send_raw(&h, NULL, 0, 0);
		uint32_t id, len;
		check(vq_wait(&rxq, &id, &len, 5), "20-byte receive buffer kept");
		check(id == head && len == 0, "20-byte receive buffer: id %u len %u", id, len);
		check(!vdev_broken(&vdev), "small receive buffer broke the device");
		cases++;
	}
	/* 10. a descriptor loop: NEEDS_RESET; after a reset all is well */
	{
		uint16_t d = txq.next_desc;
		static struct vsock_hdr lh;
		txq.desc[d] = (struct vring_desc){ (uintptr_t)&lh, HDR, VD_NEXT, d };
		txq.next_desc = (uint16_t)((d + 1) & (TXQ_SIZE - 1));
		vq_publish(&txq, d);
		vq_kick(&txq);
		check(vdev_wait_broken(&vdev, 5), "descriptor loop: no NEEDS_RESET");
		cases++;
	}
	vs_setup();
	on_request = on_stray;
	{
		struct conn *c = conn_new(2500, 7001, 65536, echo_in, sizeof(echo_in));
		send_pkt(c, OP_REQUEST, 0, NULL, 0);
		WAIT_FOR(c->state != 0, 5, "after reset: no answer");
		check(c->state == 1, "after reset: refused");
		send_pkt(c, OP_RW, 0, "hello again", 11);
		send_pkt(c, OP_SHUTDOWN, SHUT_SEND, NULL, 0);
		WAIT_FOR(c->len == 11 && (c->peer_shut & SHUT_SEND), 10, "after reset: echo %u bytes", c->len);
		check(!memcmp(echo_in, "hello again", 11), "after reset: echo differs");
		send_pkt(c, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND, NULL, 0);
		WAIT_FOR(c->state == 2, 10, "after reset: no RST to our close");
		cases++;
	}
	return 0;
}

void test_main(void)
{
	bool mmio = cmdline_is("transport", "mmio");
	bool found = vdev_find(VIRTIO_ID_VSOCK, mmio, &vdev);
	check(found, "no virtio-vsock device on %s", mmio ? "virtio-mmio" : "PCI");
	user_call(body, 0, USER_IF);
	printf("virtio-vsock-evil cases=%u\n", cases);
	pass();
}
