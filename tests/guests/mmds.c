/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mmds: a guest reading the microVM metadata service (docs/mmds.md) through virtio-net, from
 * ring 3, with its own tiny ARP/IPv4/TCP/HTTP client (software checksums: no offloads are
 * negotiated). tests/api/test_api_mmds.py puts this document in the store first:
 *   {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097"}}}
 * and configures MMDS on the guest's interface at 169.254.169.254 with version=1 or 2.
 *
 * Checks: ARP for the address is answered by MMDS's MAC (06:01:23:45:67:01); on one
 * keep-alive connection: an IMDS listing, a string, the JSON form, a 404; V1 answers a GET
 * without a token and with a bad one; V2 refuses those (401) and answers with a token from
 * PUT /latest/api/token; a request that outgrows MMDS's 2500-byte buffer resets its
 * connection; connections close with FIN both ways. Prints "mmds: version=N requests=K".
 *
 * Command line: transport=pci|mmio, mac=MAC, version=1|2, model=virtio|e1000 (e1000: the same
 * exchange through petrel's E1000 with legacy descriptors, e1000_common.h).
 */
#include "e1000_common.h"

DEFINE_GUEST("mmds");

#define QSIZE 64
#define NBUFS 16
#define BUFSIZE 2048
#define GUEST_IP 0x0a000002u
#define MMDS_IP 0xa9fea9feu
#define MSS 1460

static struct vdev dev;
static struct vq rxq, txq;
static struct vq_mem rxmem, txmem;
static uint8_t rxbuf[NBUFS][BUFSIZE] __attribute__((aligned(4096)));
static uint8_t txbuf[NET_HDR_LEN + 1600] __attribute__((aligned(64)));
static uint8_t frame[4 * BUFSIZE];
static uint8_t mac[6], mmds_mac[6];
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
static bool mmio;
static unsigned requests;
/* model=e1000: the card and its rings (NBUFS receive buffers, ETXN transmit descriptors) */
#define ETXN 8
static bool e1k;
static struct e1000_card card;
static struct e1000_desc erx[NBUFS] __attribute__((aligned(128)));
static struct e1000_desc etx[ETXN] __attribute__((aligned(128)));
static unsigned erx_next, etx_next;

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += be16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static void e1k_setup(void)
{
	e1000_reset(&card);
	for (unsigned w = 0; w < 3; w++) {
		uint16_t v = e1000_eeprom(&card, w);
		mac[2 * w] = (uint8_t)v;
		mac[2 * w + 1] = (uint8_t)(v >> 8);
	}
	ew32(&card, E_CTRL, er32(&card, E_CTRL) | E_CTRL_SLU);
	for (unsigned i = 0; i < NBUFS; i++)
		erx[i] = (struct e1000_desc){ .addr = (uintptr_t)rxbuf[i] };
	ew32(&card, E_RDBAL, (uint32_t)(uintptr_t)erx);
	ew32(&card, E_RDBAH, 0);
	ew32(&card, E_RDLEN, sizeof(erx));
	ew32(&card, E_RDH, 0);
	ew32(&card, E_RDT, NBUFS - 1);
	ew32(&card, E_TDBAL, (uint32_t)(uintptr_t)etx);
	ew32(&card, E_TDBAH, 0);
	ew32(&card, E_TDLEN, sizeof(etx));
	ew32(&card, E_TDH, 0);
	ew32(&card, E_TDT, 0);
	ew32(&card, E_TCTL, E_TCTL_EN | E_TCTL_PSP);
	ew32(&card, E_RCTL, E_RCTL_EN | E_RCTL_BAM | E_RCTL_SECRC);   /* 2 KiB buffers, no CRC */
}

static void e1k_tx(size_t len)
{
	struct e1000_desc *d = &etx[etx_next];
	*d = (struct e1000_desc){ .addr = (uintptr_t)(txbuf + NET_HDR_LEN), .length = (uint16_t)len,
				  .cmd_or_csum_hi = E_TXD_EOP | E_TXD_IFCS | E_TXD_RS };
	etx_next = (etx_next + 1) % ETXN;
	ew32(&card, E_TDT, etx_next);
	struct deadline dl;
	deadline_start(&dl, 10);
	while (!(*(volatile uint8_t *)&d->status & E_DD))
		check(!deadline_expired(&dl), "transmit descriptor not done");
}

static long e1k_rx(int seconds)
{
	struct deadline dl;
	deadline_start(&dl, seconds);
	struct e1000_desc *d = &erx[erx_next];
	while (!(*(volatile uint8_t *)&d->status & E_DD)) {
		if (deadline_expired(&dl))
			return -1;
		pause();
	}
	check((d->status & E_EOP) && d->length <= BUFSIZE, "an MMDS frame over buffers (len %u)", d->length);
	long n = d->length;
	memcpy(frame, rxbuf[erx_next], (size_t)n);
	d->status = 0;
	ew32(&card, E_RDT, erx_next);   /* the buffer goes back: the one just read is the ring's gap */
	erx_next = (erx_next + 1) % NBUFS;
	return n;
}

static void rx_post(unsigned b)
{
	rxq.desc[b] = (struct vring_desc){ (uintptr_t)rxbuf[b], BUFSIZE, VD_WRITE, 0 };
	vq_publish(&rxq, (uint16_t)b);
}

static void tx(size_t len)
{
	if (e1k) {
		e1k_tx(len);
		return;
	}
	memset(txbuf, 0, NET_HDR_LEN);
	struct vbuf b = { txbuf, (uint32_t)(NET_HDR_LEN + len), false };
	vq_add(&txq, &b, 1);
	vq_kick(&txq);
	check(vq_wait(&txq, NULL, NULL, 10), "transmit chain not returned");
}

/* The next frame into `frame` within `seconds`: its length, or -1. */
static long rx(int seconds)
{
	if (e1k)
		return e1k_rx(seconds);
	struct deadline d;
	deadline_start(&d, seconds);
	uint32_t id, len;
	while (!vq_poll(&rxq, &id, &len)) {
		if (deadline_expired(&d))
			return -1;
		pause();
	}
	struct net_hdr h;
	check(id < NBUFS && len >= NET_HDR_LEN && len <= BUFSIZE, "used id %u len %u", id, len);
	memcpy(&h, rxbuf[id], sizeof(h));
	check(h.num_buffers == 1, "an MMDS frame in %u buffers", h.num_buffers);
	memcpy(frame, rxbuf[id] + NET_HDR_LEN, len - NET_HDR_LEN);
	rx_post(id);
	vq_kick(&rxq);
	return (long)(len - NET_HDR_LEN);
}

static void arp(void)
{
	uint8_t *f = txbuf + NET_HDR_LEN;
	memcpy(f, bcast, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, 0x0806);
	uint8_t *a = f + 14;
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, mac, 6);
	put32(a + 14, GUEST_IP);
	memset(a + 18, 0, 6);
	put32(a + 24, MMDS_IP);
	tx(42);
	for (;;) {
		long n = rx(10);
		check(n >= 0, "no ARP reply for 169.254.169.254");
		if (n < 42 || be16(frame + 12) != 0x0806)
			continue;
		check(be16(frame + 20) == 2 && be32(frame + 28) == MMDS_IP && be32(frame + 38) == GUEST_IP,
		      "not the ARP reply expected");
		memcpy(mmds_mac, frame + 22, 6);
		static const uint8_t want[6] = { 0x06, 0x01, 0x23, 0x45, 0x67, 0x01 };
		check(!memcmp(mmds_mac, want, 6), "MMDS's MAC is %02x:%02x:...", mmds_mac[0], mmds_mac[1]);
		check(!memcmp(frame, mac, 6), "the ARP reply is not addressed to us");
		return;
	}
}

struct conn {
	uint16_t port;
	uint32_t snd_nxt, rcv_nxt;
	bool rst, fin;
};

enum { SYN = 2, RST = 4, PSH = 8, ACK = 16, FIN = 1 };

static void seg_out(struct conn *c, uint8_t flags, const void *data, size_t len)
{
	uint8_t *f = txbuf + NET_HDR_LEN;
	memcpy(f, mmds_mac, 6);
	memcpy(f + 6, mac, 6);
	put16(f + 12, 0x0800);
	uint8_t *ip = f + 14, *t = ip + 20;
	size_t opt = (flags & SYN) ? 4 : 0, tlen = 20 + opt + len;
	memset(ip, 0, 40 + opt);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + tlen));
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, MMDS_IP);
	put16(ip + 10, fold(sum16(0, ip, 20)));
	put16(t, c->port);
	put16(t + 2, 80);
	put32(t + 4, c->snd_nxt);
	put32(t + 8, (flags & ACK) ? c->rcv_nxt : 0);
	t[12] = (uint8_t)(((20 + opt) / 4) << 4);
	t[13] = flags;
	put16(t + 14, 8192);
	if (opt) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, MSS);
	}
	memcpy(t + 20 + opt, data, len);
	uint32_t ps = (GUEST_IP >> 16) + (GUEST_IP & 0xffff) + (MMDS_IP >> 16) + (MMDS_IP & 0xffff) + 6 + (uint32_t)tlen;
	put16(t + 16, fold(sum16(ps, t, tlen)));
	tx(14 + 20 + tlen);
	c->snd_nxt += (uint32_t)len + !!(flags & SYN) + !!(flags & FIN);
}

/* The next TCP segment for c (flags, data and its length); false after `seconds` without one. */
static bool seg_in(struct conn *c, uint8_t *flags, const uint8_t **data, size_t *len, uint32_t *seq, int seconds)
{
	for (;;) {
		long n = rx(seconds);
		if (n < 0)
			return false;
		if (n < 54 || be16(frame + 12) != 0x0800 || frame[23] != 6)
			continue;
		const uint8_t *ip = frame + 14;
		size_t ihl = (size_t)(ip[0] & 15) * 4, total = be16(ip + 2);
		check(total <= (size_t)n - 14 && fold(sum16(0, ip, ihl)) == 0, "bad IPv4 header from MMDS");
		const uint8_t *t = ip + ihl;
		size_t tlen = total - ihl;
		uint32_t ps = (MMDS_IP >> 16) + (MMDS_IP & 0xffff) + (GUEST_IP >> 16) + (GUEST_IP & 0xffff) + 6 + (uint32_t)tlen;
		check(fold(sum16(ps, t, tlen)) == 0, "bad TCP checksum from MMDS");
		check(be32(ip + 12) == MMDS_IP && !memcmp(frame + 6, mmds_mac, 6), "a segment not from MMDS");
		if (be16(t + 2) != c->port)
			continue;
		size_t doff = (size_t)(t[12] >> 4) * 4;
		*flags = t[13];
		*seq = be32(t + 4);
		*data = t + doff;
		*len = tlen - doff;
		return true;
	}
}

static void connect(struct conn *c, uint16_t port)
{
	*c = (struct conn){ .port = port, .snd_nxt = 1000u * port };
	seg_out(c, SYN, NULL, 0);
	uint8_t fl;
	const uint8_t *d;
	size_t n;
	uint32_t seq;
	check(seg_in(c, &fl, &d, &n, &seq, 10), "no SYN-ACK on port %u", port);
	check(fl == (SYN | ACK), "flags 0x%x instead of SYN-ACK", fl);
	c->rcv_nxt = seq + 1;
	seg_out(c, ACK, NULL, 0);
}

/* Send a request and read its response into buf (NUL-terminated); the status code. */
static int request(struct conn *c, const char *req, char *buf, size_t cap, const char **body)
{
	seg_out(c, ACK | PSH, req, strlen(req));
	size_t have = 0;
	for (;;) {
		uint8_t fl;
		const uint8_t *d;
		size_t n;
		uint32_t seq;
		check(seg_in(c, &fl, &d, &n, &seq, 10), "no answer to %.40s", req);
		check(!(fl & RST), "connection reset during %.40s", req);
		if (n && seq == c->rcv_nxt) {
			check(have + n < cap, "response too long");
			memcpy(buf + have, d, n);
			have += n;
			c->rcv_nxt += (uint32_t)n;
			seg_out(c, ACK, NULL, 0);
		}
		buf[have] = 0;
		const char *end = NULL;
		for (size_t i = 0; i + 3 < have && !end; i++)
			if (!memcmp(buf + i, "\r\n\r\n", 4))
				end = buf + i + 4;
		if (!end)
			continue;
		long clen = -1;
		for (const char *p = buf; p < end; p++)
			if (!strncmp(p, "Content-Length: ", 16)) {
				clen = 0;
				for (p += 16; *p >= '0' && *p <= '9'; p++)
					clen = clen * 10 + (*p - '0');
				break;
			}
		check(clen >= 0, "no Content-Length in %.60s", buf);
		if ((size_t)(end - buf) + (size_t)clen > have)
			continue;
		*body = end;
		requests++;
		check(!strncmp(buf, "HTTP/1.1 ", 9), "status line %.20s", buf);
		return (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	}
}

static void close_conn(struct conn *c)
{
	seg_out(c, FIN | ACK, NULL, 0);
	for (;;) {
		uint8_t fl;
		const uint8_t *d;
		size_t n;
		uint32_t seq;
		check(seg_in(c, &fl, &d, &n, &seq, 10), "MMDS did not close");
		if (fl & FIN) {
			c->rcv_nxt = seq + (uint32_t)n + 1;
			seg_out(c, ACK, NULL, 0);
			return;
		}
	}
}

static void expect(struct conn *c, const char *req, int status, const char *want_body)
{
	static char buf[4096];
	const char *body;
	int st = request(c, req, buf, sizeof(buf), &body);
	check(st == status, "%.50s: status %d, expected %d (%.80s)", req, st, status, body);
	if (want_body)
		check(!strcmp(body, want_body), "%.50s: body '%.80s', expected '%s'", req, body, want_body);
}

static long body(long arg)
{
	(void)arg;
	if (e1k) {
		e1k_setup();
	} else {
		uint64_t want = VF_VERSION_1 | NET_F_MAC | NET_F_MRG_RXBUF, feats;
		check(vdev_negotiate(&dev, want, &feats), "device refused FEATURES_OK");
		for (unsigned i = 0; i < 6; i++)
			mac[i] = (uint8_t)vdev_cfg_read(&dev, i, 1);
		check(vq_setup(&dev, &rxq, NET_RXQ, &rxmem, QSIZE, 0xffff), "rx queue setup failed");
		check(vq_setup(&dev, &txq, NET_TXQ, &txmem, QSIZE, 0xffff), "tx queue setup failed");
		vdev_driver_ok(&dev);
		for (unsigned b = 0; b < NBUFS; b++)
			rx_post(b);
		vq_kick(&rxq);
	}
	long version = cmdline_int("version", 1);

	arp();
	struct conn c;
	connect(&c, 40001);
	static char tokreq[256];
	const char *tok = "";
	if (version == 2) {
		expect(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n", 401,
		       "No MMDS token provided. Use `X-metadata-token` or `X-aws-ec2-metadata-token` header to specify the session token.");
		expect(&c, "GET /latest HTTP/1.1\r\nX-metadata-token: bogus\r\n\r\n", 401, "MMDS token not valid.");
		expect(&c, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 0\r\n\r\n", 400, NULL);
		static char buf[1024];
		const char *b;
		int st = request(&c, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n", buf,
				 sizeof(buf), &b);
		check(st == 200 && strlen(b) > 16 && strlen(b) < 100, "token request: %d '%.60s'", st, b);
		snprintf(tokreq, sizeof(tokreq), "X-metadata-token: %s\r\n", b);
		tok = tokreq;
	} else {
		expect(&c, "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: bogus\r\n\r\n", 200, "ami-12345678");
	}
	static char req[512];
	snprintf(req, sizeof(req), "GET /latest/meta-data/ HTTP/1.1\r\n%s\r\n", tok);
	expect(&c, req, 200, "ami-id\nreservation-id");
	snprintf(req, sizeof(req), "GET /latest/meta-data/ami-id HTTP/1.1\r\n%s\r\n", tok);
	expect(&c, req, 200, "ami-12345678");
	snprintf(req, sizeof(req), "GET /latest HTTP/1.1\r\nAccept: application/json\r\n%s\r\n", tok);
	expect(&c, req, 200, "{\"meta-data\":{\"ami-id\":\"ami-12345678\",\"reservation-id\":\"r-fea54097\"}}");
	snprintf(req, sizeof(req), "GET /nothing HTTP/1.1\r\n%s\r\n", tok);
	expect(&c, req, 404, "Resource not found: /nothing.");
	close_conn(&c);

	/* Oversized: more than 2500 bytes without the end of the head resets the connection. */
	connect(&c, 40002);
	static char junk[1200];
	memset(junk, 'a', sizeof(junk));
	memcpy(junk, "GET /", 5);
	bool reset = false;
	for (int i = 0; i < 3 && !reset; i++) {
		seg_out(&c, ACK, junk, sizeof(junk));
		uint8_t fl;
		const uint8_t *d;
		size_t n;
		uint32_t seq;
		while (seg_in(&c, &fl, &d, &n, &seq, 2))
			reset |= (fl & RST) != 0;
	}
	check(reset, "an oversized request did not reset its connection");
	printf("mmds: version=%ld requests=%u\n", version, requests);
	return 0;
}

void test_main(void)
{
	mmio = cmdline_is("transport", "mmio");
	e1k = cmdline_is("model", "e1000");
	if (e1k) {
		check(e1000_find(&card), "no E1000 (8086:100e) on PCI");
	} else {
		bool found = vdev_find(VIRTIO_ID_NET, mmio, &dev);
		check(found, "no virtio-net device on %s", mmio ? "virtio-mmio" : "PCI");
	}
	user_call(body, 0, USER_IF);
	pass();
}
