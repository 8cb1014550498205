/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio_vsock_common.h - a minimal guest-side virtio-vsock stream stack for the test guests
 * (polling, ring 3): queues, packet send/receive, connections with credit accounting.
 * Header-only (static functions); one guest includes it once.
 */
#ifndef PETREL_GUEST_VIRTIO_VSOCK_COMMON_H
#define PETREL_GUEST_VIRTIO_VSOCK_COMMON_H

#include "virtio_common.h"

#define VIRTIO_ID_VSOCK 19
#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2
#define HOST_CID 2

enum { OP_INVALID, OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST };
#define SHUT_RCV 1
#define SHUT_SEND 2
#define TYPE_STREAM 1

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));
#define HDR 44

#define RXQ_SIZE 128
#define TXQ_SIZE 128
#define RX_BUFS 48          /* each: header (44) + 4 KiB data, like Linux */
#define RX_DATA 4096
#define TX_SLOTS 32

static struct vdev vdev;
static struct vq rxq, txq, evq;
static struct vq_mem rxmem, txmem, evmem;
static uint8_t rx_hdr[RX_BUFS][64] __attribute__((aligned(64)));
static uint8_t rx_data[RX_BUFS][RX_DATA] __attribute__((aligned(4096)));
static uint8_t ev_buf[4][8];
static struct vsock_hdr tx_hdr[TX_SLOTS];
static uint32_t tx_inflight;
static uint64_t my_cid;

struct conn {
	bool used;
	uint32_t lport, pport;       /* ours (guest), theirs (host) */
	int state;                   /* 0 connecting, 1 established, 2 reset */
	uint32_t buf_alloc, fwd_cnt, rx_cnt, last_fwd_sent;
	uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
	uint32_t peer_shut;          /* SHUTDOWN flags from the host */
	bool listening_accept;       /* created by a host REQUEST */
	uint8_t *data;               /* where received bytes go */
	uint32_t cap, len;
	uint32_t credit_updates_seen;
};
#define MAX_CONNS 8
static struct conn conns[MAX_CONNS];

/* Called for packets the stack does not handle itself (REQUEST to a port, unknown conns). */
static void (*on_request)(const struct vsock_hdr *h);

/* Receive buffer b: descriptor 2b = header, 2b+1 = data (odd buffers: one descriptor with
 * header and data together, as newer Linux does). */
static void rx_post(unsigned b)
{
	uint16_t d = (uint16_t)(2 * b);
	if (b & 1) {
		rxq.desc[d] = (struct vring_desc){ (uintptr_t)rx_data[b], RX_DATA, VD_WRITE, 0 };
	} else {
		rxq.desc[d] = (struct vring_desc){ (uintptr_t)rx_hdr[b], HDR, VD_WRITE | VD_NEXT, (uint16_t)(d + 1) };
		rxq.desc[d + 1] = (struct vring_desc){ (uintptr_t)rx_data[b], RX_DATA, VD_WRITE, 0 };
	}
	vq_publish(&rxq, d);
}

static void vs_setup(void)
{
	uint64_t f;
	check(vdev_negotiate(&vdev, VF_VERSION_1, &f), "FEATURES_OK refused");
	my_cid = vdev_cfg_read(&vdev, 0, 4) | (uint64_t)vdev_cfg_read(&vdev, 4, 4) << 32;
	check(vq_setup(&vdev, &rxq, VSOCK_RXQ, &rxmem, RXQ_SIZE, 0xffff), "rx queue setup");
	check(vq_setup(&vdev, &txq, VSOCK_TXQ, &txmem, TXQ_SIZE, 0xffff), "tx queue setup");
	check(vq_setup(&vdev, &evq, VSOCK_EVQ, &evmem, 8, 0xffff), "event queue setup");
	vdev_driver_ok(&vdev);
	check(vdev_status(&vdev) & VS_DRIVER_OK, "DRIVER_OK did not stick");
	for (unsigned b = 0; b < RX_BUFS; b++)
		rx_post(b);
	for (unsigned i = 0; i < 4; i++) {
		struct vbuf e = { ev_buf[i], 8, true };
		vq_add(&evq, &e, 1);
	}
	vq_kick(&rxq);
	vq_kick(&evq);
	tx_inflight = 0;
	memset(conns, 0, sizeof(conns));
}

static void tx_reap(void)
{
	uint32_t id;
	while (vq_poll(&txq, &id, NULL))
		tx_inflight--;
}

/* Send a raw packet: header (possibly split at `split`) + data (possibly in 2 pieces). */
static void send_raw(const struct vsock_hdr *h, const void *data, uint32_t len, unsigned split)
{
	static unsigned slot;
	while (tx_inflight >= TX_SLOTS - 1) {
		uint32_t id;
		check(vq_wait(&txq, &id, NULL, 10), "transmit completions stopped");
		tx_inflight--;
	}
	struct vsock_hdr *th = &tx_hdr[slot++ % TX_SLOTS];
	*th = *h;
	struct vbuf b[4];
	unsigned n = 0;
	if (split && split < HDR) {
		b[n++] = (struct vbuf){ th, split, false };
		b[n++] = (struct vbuf){ (uint8_t *)th + split, HDR - split, false };
	} else {
		b[n++] = (struct vbuf){ th, HDR, false };
	}
	if (len > 1 && (slot & 1)) {
		b[n++] = (struct vbuf){ data, len / 2, false };
		b[n++] = (struct vbuf){ (const uint8_t *)data + len / 2, len - len / 2, false };
	} else if (len) {
		b[n++] = (struct vbuf){ data, len, false };
	}
	vq_add(&txq, b, n);
	tx_inflight++;
	vq_kick(&txq);
	tx_reap();
}

static void send_pkt(struct conn *c, uint16_t op, uint32_t flags, const void *data, uint32_t len)
{
	struct vsock_hdr h = { my_cid, HOST_CID, c->lport, c->pport, len, TYPE_STREAM, op, flags,
			       c->buf_alloc, c->fwd_cnt };
	c->last_fwd_sent = c->fwd_cnt;
	send_raw(&h, data, len, (c->tx_cnt & 3) == 1 ? 13 : 0);
	if (op == OP_RW)
		c->tx_cnt += len;
}

static struct conn *find(uint32_t lport, uint32_t pport)
{
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (conns[i].used && conns[i].lport == lport && conns[i].pport == pport)
			return &conns[i];
	return NULL;
}

static struct conn *conn_new(uint32_t lport, uint32_t pport, uint32_t buf_alloc, uint8_t *data, uint32_t cap)
{
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		if (conns[i].used)
			continue;
		struct conn *c = &conns[i];
		memset(c, 0, sizeof(*c));
		c->used = true;
		c->lport = lport;
		c->pport = pport;
		c->buf_alloc = buf_alloc;
		c->data = data;
		c->cap = cap;
		return c;
	}
	fail("out of connections");
}

/* The application "reads" what arrived: give the host its credit back once half the window
 * is used (so petrel has to stop at our credit in between). */
static __attribute__((unused)) void consume(struct conn *c)
{
	c->fwd_cnt = c->rx_cnt;
	if (c->fwd_cnt - c->last_fwd_sent >= c->buf_alloc / 2)
		send_pkt(c, OP_CREDIT_UPDATE, 0, NULL, 0);
}

static uint32_t credit(const struct conn *c)
{
	uint32_t used = c->tx_cnt - c->peer_fwd_cnt;
	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

/* Handle every packet that arrived. Returns how many. */
static unsigned vs_poll(void)
{
	unsigned n = 0;
	uint32_t id, len;
	while (vq_poll(&rxq, &id, &len)) {
		n++;
		check(id % 2 == 0 && id / 2 < RX_BUFS, "rx used id %u", id);
		unsigned b = id / 2;
		check(len >= HDR && len <= HDR + RX_DATA, "rx used length %u", len);
		struct vsock_hdr h;
		const uint8_t *payload;
		if (b & 1) {
			memcpy(&h, rx_data[b], HDR);
			payload = rx_data[b] + HDR;
			check(len - HDR <= RX_DATA - HDR, "packet overflows a one-descriptor buffer");
		} else {
			memcpy(&h, rx_hdr[b], HDR);
			payload = rx_data[b];
		}
		check(h.len == len - HDR, "header len %u, used length %u", h.len, len);
		check(h.src_cid == HOST_CID && h.dst_cid == my_cid, "packet from cid %lu to %lu",
		      (unsigned long)h.src_cid, (unsigned long)h.dst_cid);
		check(h.type == TYPE_STREAM, "type %u", h.type);
		struct conn *c = find(h.dst_port, h.src_port);
		if (!c) {
			if (on_request)
				on_request(&h);
			rx_post(b);
			continue;
		}
		c->peer_buf_alloc = h.buf_alloc;
		c->peer_fwd_cnt = h.fwd_cnt;
		switch (h.op) {
		case OP_RESPONSE:
			check(c->state == 0, "RESPONSE on an established connection");
			c->state = 1;
			break;
		case OP_RW:
			check(c->state == 1, "data before the connection was up");
			check(!(c->peer_shut & SHUT_SEND), "data after the host's SHUTDOWN(SEND)");
			check(c->rx_cnt + h.len - c->fwd_cnt <= c->buf_alloc,
			      "petrel sent past our credit: %u in flight, buf_alloc %u", c->rx_cnt + h.len - c->fwd_cnt,
			      c->buf_alloc);
			check(c->len + h.len <= c->cap, "more data than expected");
			memcpy(c->data + c->len, payload, h.len);
			c->len += h.len;
			c->rx_cnt += h.len;
			break;
		case OP_CREDIT_UPDATE:
			c->credit_updates_seen++;
			break;
		case OP_CREDIT_REQUEST:
			send_pkt(c, OP_CREDIT_UPDATE, 0, NULL, 0);
			break;
		case OP_SHUTDOWN:
			c->peer_shut |= h.flags;
			break;
		case OP_RST:
			c->state = 2;
			break;
		default:
			fail("op %u from the host", h.op);
		}
		rx_post(b);
	}
	if (n)
		vq_kick(&rxq);
	tx_reap();
	return n;
}

/* Poll until cond() or `seconds` pass. */
#define WAIT_FOR(cond, seconds, ...)                                            \
	do {                                                                    \
		struct deadline dl_;                                            \
		deadline_start(&dl_, seconds);                                  \
		while (!(cond)) {                                               \
			if (!vs_poll()) {                                       \
				for (int i_ = 0; i_ < 1000; i_++)               \
					pause();                                \
				if (deadline_expired(&dl_) && !(cond))          \
					fail(__VA_ARGS__);                      \
			}                                                       \
		}                                                               \
	} while (0)

/* Send len bytes on c in packets of at most `chunk`, waiting for credit as needed. */
static __attribute__((unused)) void vs_send(struct conn *c, const uint8_t *p, uint32_t len, uint32_t chunk)
{
	uint32_t off = 0;
	while (off < len) {
		WAIT_FOR(credit(c) > 0 || c->state != 1, 10, "no credit from petrel for 10 s (%u of %u bytes sent)", off, len);
		check(c->state == 1, "connection reset while sending");
		uint32_t k = len - off;
		if (k > chunk)
			k = chunk;
		if (k > credit(c))
			k = credit(c);
		send_pkt(c, OP_RW, 0, p + off, k);
		off += k;
		vs_poll();
	}
}

#endif
