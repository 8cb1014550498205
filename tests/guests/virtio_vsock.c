/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_vsock: a ring-3 vsock stream stack (virtio_vsock_common.h) against petrel's
 * user-space vsock and tests/virtio/test_vsock.py on the host side.
 * Command line:
 *   transport=pci|mmio
 *   cid=N        the guest CID petrel was given (config space must say it)
 *   out_port=P   host port the test listens on (<uds>_P); P+1 has no listener
 *   in_port=L    guest port the host connects to with "CONNECT L"; L+1 is not listened on
 *   out_bytes=N  bytes to send the host (default 262144: twice petrel's buffer, so petrel's
 *                credit updates must come)
 * 1. guest -> host: REQUEST to P+1 is refused (RST); REQUEST to P, send out_bytes of
 *    out_pattern() in RW packets (headers and data split over descriptors), SHUTDOWN(SEND),
 *    receive the host's reply (out_pattern(i) ^ 0xa5, until its SHUTDOWN) with a 16 KiB window that
 *    petrel must respect, then RST.
 * 2. host -> guest: prints "vsock: listening on L"; a REQUEST to L+1 gets our RST; the one
 *    to L gets RESPONSE; everything received until the host's SHUTDOWN(SEND) (32 KiB window)
 *    is sent back, then SHUTDOWN(RCV|SEND): petrel must answer with RST.
 * Prints "virtio-vsock out=N reply=N echo=N" and "ok virtio_vsock".
 */
#include "virtio_vsock_common.h"

DEFINE_GUEST("virtio_vsock");

static uint8_t outbuf[256 * 1024 + 4096];
static uint8_t replybuf[512 * 1024];
static uint8_t echobuf[512 * 1024];
static uint32_t in_port, out_port, out_bytes;
static struct conn *listener_conn;
static unsigned refused_in;

static uint8_t out_pattern(uint32_t i) { return (uint8_t)(i * 13u + (i >> 8) + 1u); }

/* REQUESTs from the host (and stray packets). */
static void request(const struct vsock_hdr *h)
{
	if (h->op != OP_REQUEST)
		return;
	if (h->dst_port == in_port && !listener_conn) {
		listener_conn = conn_new(in_port, h->src_port, 32768, echobuf, sizeof(echobuf));
		listener_conn->state = 1;
		listener_conn->peer_buf_alloc = h->buf_alloc;
		listener_conn->peer_fwd_cnt = h->fwd_cnt;
		check(h->src_port >= (1u << 30), "host port %u below 2^30", h->src_port);
		send_pkt(listener_conn, OP_RESPONSE, 0, NULL, 0);
		return;
	}
	/* Nobody listens there: refuse like Linux does. */
	struct vsock_hdr r = { my_cid, HOST_CID, h->dst_port, h->src_port, 0, TYPE_STREAM, OP_RST, 0, 0, 0 };
	send_raw(&r, NULL, 0, 0);
	refused_in++;
}

static long body(long arg)
{
	(void)arg;
	vs_setup();
	long want_cid = cmdline_int("cid", -1);
	check(want_cid < 0 || my_cid == (uint64_t)want_cid, "config space guest_cid %lu, expected %ld",
	      (unsigned long)my_cid, want_cid);
	on_request = request;

	/* --- guest -> host --- */
	struct conn *bad = conn_new(1023, out_port + 1, 65536, NULL, 0);
	send_pkt(bad, OP_REQUEST, 0, NULL, 0);
	WAIT_FOR(bad->state != 0, 10, "no answer to a REQUEST for a port nobody listens on");
	check(bad->state == 2, "REQUEST to a port without listener was not refused");
	bad->used = false;

	struct conn *c = conn_new(1024, out_port, 16384, replybuf, sizeof(replybuf));
	send_pkt(c, OP_REQUEST, 0, NULL, 0);
	WAIT_FOR(c->state != 0, 10, "no RESPONSE to our REQUEST");
	check(c->state == 1, "host port %u refused us", out_port);
	check(c->peer_buf_alloc > 0, "petrel advertises no buffer");
	for (uint32_t i = 0; i < out_bytes; i++)
		outbuf[i] = out_pattern(i);
	vs_send(c, outbuf, out_bytes, 4096);
	send_pkt(c, OP_SHUTDOWN, SHUT_SEND, NULL, 0);
	/* The host answers and closes: read until its SHUTDOWN(SEND). */
	for (;;) {
		WAIT_FOR(c->rx_cnt != c->fwd_cnt || (c->peer_shut & SHUT_SEND) || c->state == 2, 20,
			 "reply: %u bytes, then nothing for 20 s", c->len);
		check(c->state != 2, "connection reset during the reply (%u bytes in)", c->len);
		consume(c);
		if ((c->peer_shut & SHUT_SEND) && c->rx_cnt == c->fwd_cnt)
			break;
	}
	for (uint32_t i = 0; i < c->len; i++)
		check(replybuf[i] == (uint8_t)(out_pattern(i) ^ 0xa5), "reply byte %u is 0x%02x", i, replybuf[i]);
	printf("vsock: reply %u bytes, %u credit updates from petrel\n", c->len, c->credit_updates_seen);
	send_pkt(c, OP_RST, 0, NULL, 0);
	uint32_t reply_len = c->len;
	c->used = false;

	/* --- host -> guest --- */
	printf("vsock: listening on %u\n", in_port);
	WAIT_FOR(listener_conn, 30, "the host never connected to port %u", in_port);
	struct conn *e = listener_conn;
	for (;;) {
		WAIT_FOR(e->rx_cnt != e->fwd_cnt || (e->peer_shut & SHUT_SEND) || e->state == 2, 20,
			 "echo: %u bytes, then nothing for 20 s", e->len);
		check(e->state != 2, "host connection reset");
		consume(e);
		if ((e->peer_shut & SHUT_SEND) && e->rx_cnt == e->fwd_cnt)
			break;
	}
	vs_send(e, echobuf, e->len, 3000);
	send_pkt(e, OP_SHUTDOWN, SHUT_RCV | SHUT_SEND, NULL, 0);
	WAIT_FOR(e->state == 2, 10, "petrel did not finish our close with a RST");
	check(refused_in >= 1, "the host's CONNECT to port %u never reached us", in_port + 1);
	printf("virtio-vsock out=%u reply=%u echo=%u\n", out_bytes, reply_len, e->len);
	return 0;
}

void test_main(void)
{
	bool mmio = cmdline_is("transport", "mmio");
	in_port = (uint32_t)cmdline_int("in_port", 5000);
	out_port = (uint32_t)cmdline_int("out_port", 6000);
	out_bytes = (uint32_t)cmdline_int("out_bytes", 256 * 1024);
	check(out_bytes <= sizeof(outbuf), "out_bytes too large");
	bool found = vdev_find(VIRTIO_ID_VSOCK, mmio, &vdev);
	check(found, "no virtio-vsock device on %s", mmio ? "virtio-mmio" : "PCI");
	user_call(body, 0, USER_IF);
	pass();
}
