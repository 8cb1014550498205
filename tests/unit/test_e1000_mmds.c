/* MMDS on an E1000 interface (src/devices/e1000/e1000_mmds.c), without KVM: the card over a
 * datagram socket pair (the "tap"), rings written by the test as a driver would. Frames for the
 * metadata address leave the card after its offloads (checksum contexts, TCP segmentation) and
 * go to MMDS, never to the tap; the replies come back through the receive ring and its filters,
 * waiting for buffers when the ring is full; other frames still reach the tap. The same checks
 * as test_net_mmds.c makes of virtio-net. */
#include "unit.h"
#include "config/mmds_config.h"
#include "mmds_frames.h"
#include "fake_e1000.h"

#include "devices/e1000/e1000_regs.h"
#include "mmds/proto.h"
#include "mmds/stack.h"
#include "mmds/tcp.h"

#define GUEST_IP 0x0a000002u
#define RCTL_SECRC 0x04000000u

static struct mmds *svc;
static unsigned tx_next, rx_seen;

static void setup(void)
{
	REQUIRE_EQ(fe_setup(true), 0);
	svc = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	REQUIRE(svc);
	json_t *d = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\"}}}", 0, NULL);
	mmds_put(svc, d);
	json_decref(d);
	REQUIRE_EQ(e1000_mmds_enable(&fe, svc, MMDS_DEFAULT_IPV4), 0);
	fe_tx_ring();
	tx_next = rx_seen = 0;
}

static void teardown(void)
{
	fe_teardown();
	mmds_unref(svc);
}

/* One frame through a legacy descriptor (the card leaves it as it is). */
static void tx_plain(const uint8_t *f, uint32_t len)
{
	memcpy(fe_ram + TX_BUF, f, len);
	fe_txd_legacy(tx_next, TX_BUF, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
	fe_w(E1000_TDT, ++tx_next % RING_N);
}

/* The pseudo-header sum with the TCP length, not complemented, where the checksum goes: what
 * Linux's e1000 leaves for the card to finish. */
static void leave_pseudo_sum(uint8_t *f)
{
	uint8_t *ip = f + ETH_HDR_LEN;
	uint32_t tcplen = rd16(ip + 2) - 20u;
	uint32_t ps = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18) + 6 + tcplen;
	while (ps >> 16)
		ps = (ps & 0xffff) + (ps >> 16);
	wr16(ip + 20 + 16, (uint16_t)ps);
	wr16(ip + 10, 0);   /* and the IP header's for IXSM */
}

/* One TCP frame with checksum offload: a context, then data with TXSM and IXSM. */
static void tx_offload(uint8_t *f, uint32_t len)
{
	leave_pseudo_sum(f);
	memcpy(fe_ram + TX_BUF, f, len);
	fe_txd_ctx(tx_next, 14, 24, 33, 34, 50, 0, 0, E1000_TUCMD_IP | E1000_TUCMD_TCP, 0, 0);
	fe_txd_data(tx_next + 1, TX_BUF, len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		    E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	tx_next += 2;
	fe_w(E1000_TDT, tx_next % RING_N);
}

static size_t tcp_frame(uint8_t *fr, uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags,
			const char *data, uint16_t mss)
{
	return mmds_tcp_frame(fr, fe_mac, GUEST_IP, port, seq, ack, flags, data, mss);
}

/* The next frame the card put in the receive ring (after the I/O thread's turn): its length
 * as the descriptor says, 0 if none. The buffer goes back to the card. */
static size_t rx(uint8_t *out)
{
	e1000_poll(&fe);
	uint8_t *d = rxd(rx_seen);
	if (!(d[12] & E1000_RXD_STAT_DD))
		return 0;
	CHECK(d[12] & E1000_RXD_STAT_EOP);
	size_t n = le_load(d + 8, 2);
	memcpy(out, fe_ram + RX_BUF + 0x4000ull * (rx_seen % RING_N), n);
	d[12] = 0;
	fe_w(E1000_RDT, (fe_r(E1000_RDT) + 1) % RING_N);   /* a buffer back, at the tail */
	rx_seen++;
	return n;
}

static bool tap_got_nothing(void)
{
	return fe_host_recv(frame, sizeof(frame)) < 0;
}

TEST(e1000_mmds_arp_answered_not_forwarded)
{
	setup();
	fe_rx_ring(0, RCTL_SECRC);   /* no buffers yet */
	uint8_t fr[64] = { 0 }, out[2048];
	memset(fr, 0xff, 6);
	memcpy(fr + 6, fe_mac, 6);
	wr16(fr + 12, ETHERTYPE_ARP);
	static const uint8_t unknown[6];
	arp_write(fr + ETH_HDR_LEN, ARP_OP_REQUEST, fe_mac, GUEST_IP, unknown, MMDS_DEFAULT_IPV4);
	tx_plain(fr, 42);
	CHECK(txd(0)[12] & E1000_TXD_STAT_DD);   /* sent, as far as the driver can tell */
	CHECK(tap_got_nothing());
	CHECK_EQ(rx(out), 0);                     /* no buffers: the reply waits */
	CHECK(fe.rx_waiting);
	fe_w(E1000_RDT, 4);                       /* buffers: RDT's kick brings it */
	size_t n = rx(out);
	REQUIRE_EQ(n, 60);                        /* 42 bytes padded, CRC stripped (SECRC) */
	CHECK(!memcmp(out, fe_mac, 6));
	CHECK(!memcmp(out + 6, "\x06\x01\x23\x45\x67\x01", 6));
	CHECK_EQ(rd16(out + 12), ETHERTYPE_ARP);
	CHECK_EQ(rd16(out + ETH_HDR_LEN + 6), ARP_OP_REPLY);
	CHECK_EQ(rd32(out + ETH_HDR_LEN + 14), MMDS_DEFAULT_IPV4);
	CHECK_EQ(rx(out), 0);
	CHECK_EQ(fe_r(E1000_ICR) & E1000_ICR_RXT0, E1000_ICR_RXT0);
	/* ARP for another address goes to the tap as before */
	wr32(fr + ETH_HDR_LEN + 24, 0x0a000001);
	tx_plain(fr, 42);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), 42);
	teardown();
}

/* SYN, request and response; every frame the guest sends has its checksums left to the card. */
TEST(e1000_mmds_http_through_checksum_offload)
{
	setup();
	fe_rx_ring(8, RCTL_SECRC);
	uint8_t fr[2048], out[2048];
	size_t len = tcp_frame(fr, 40000, 100, 0, TCP_SYN, NULL, 1460);
	tx_offload(fr, (uint32_t)len);
	size_t n = rx(out);
	REQUIRE(n > ETH_HDR_LEN);
	struct mmds_tcp_seg s;
	REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
	CHECK_EQ(s.flags, TCP_SYN | TCP_ACK);
	uint32_t mmds_seq = s.seq + 1;
	const char *req = "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
	tx_offload(fr, (uint32_t)tcp_frame(fr, 40000, 101, mmds_seq, TCP_ACK | TCP_PSH, req, 0));
	char resp[1024] = "";
	while ((n = rx(out)) > 0) {
		REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
		if (s.len)
			memcpy(resp + strlen(resp), s.data, s.len < 500 ? s.len : 500);
	}
	CHECK_CONTAINS(resp, "HTTP/1.1 200 \r\n");
	CHECK_CONTAINS(resp, "\r\n\r\nami-12345678");
	CHECK(tap_got_nothing());
	CHECK_EQ(svc->metrics.connections_created, 1);
	teardown();
}

/* A request sent as one TSO packet: MMDS gets the card's segments, in order, and answers. */
TEST(e1000_mmds_request_in_tcp_segments)
{
	setup();
	fe_rx_ring(8, RCTL_SECRC);
	uint8_t fr[2048], out[2048];
	tx_plain(fr, (uint32_t)tcp_frame(fr, 40001, 100, 0, TCP_SYN, NULL, 1460));
	size_t n = rx(out);
	struct mmds_tcp_seg s;
	REQUIRE(n > ETH_HDR_LEN);
	REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
	uint32_t mmds_seq = s.seq + 1;
	const char *req = "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
	size_t len = tcp_frame(fr, 40001, 101, mmds_seq, TCP_ACK | TCP_PSH, req, 0);
	/* Linux's e1000_tso: IP total length and checksum zero, the pseudo sum without length */
	uint8_t *ip = fr + ETH_HDR_LEN;
	wr16(ip + 2, 0);
	wr16(ip + 10, 0);
	uint32_t ps = rd16(ip + 12) + rd16(ip + 14) + rd16(ip + 16) + rd16(ip + 18) + 6;
	while (ps >> 16)
		ps = (ps & 0xffff) + (ps >> 16);
	wr16(ip + 20 + 16, (uint16_t)ps);
	memcpy(fe_ram + TX_BUF, fr, len);
	uint32_t hdr = 54, mss = 16;
	fe_txd_ctx(tx_next, 14, 24, 33, 34, 50, 0, (uint32_t)len - hdr,
		   E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE, (uint8_t)hdr, (uint16_t)mss);
	fe_txd_data(tx_next + 1, TX_BUF, (uint32_t)len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		    E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	tx_next += 2;
	fe_w(E1000_TDT, tx_next % RING_N);
	CHECK(tap_got_nothing());
	CHECK_EQ(fe.stats.tx_segments, (strlen(req) + mss - 1) / mss);
	char resp[1024] = "";
	for (unsigned rounds = 0; rounds < 64 && !strstr(resp, "ami-12345678"); rounds++) {
		while ((n = rx(out)) > 0) {
			REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
			if (s.len)
				memcpy(resp + strlen(resp), s.data, s.len < 500 ? s.len : 500);
		}
	}
	CHECK_CONTAINS(resp, "\r\n\r\nami-12345678");
	teardown();
}

/* The card's filters apply to MMDS's replies as to any frame: with the driver's own address
 * taken out of RA (and no promiscuous mode) the reply is dropped, not delivered. */
TEST(e1000_mmds_replies_pass_the_filters)
{
	setup();
	fe_rx_ring(8, RCTL_SECRC);
	fe_w(E1000_RA + 4, 0);   /* RAH[0]: address not valid */
	uint8_t fr[256], out[2048];
	tx_plain(fr, (uint32_t)tcp_frame(fr, 40002, 100, 0, TCP_SYN, NULL, 1460));
	CHECK_EQ(rx(out), 0);
	CHECK_EQ(fe.stats.rx_filtered, 1);
	CHECK(tap_got_nothing());
	teardown();
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
