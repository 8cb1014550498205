/* Unit tests for the E1000's data path (src/devices/e1000): transmit (legacy descriptors,
 * checksum and TSO contexts over IPv4 and IPv6, VLAN insertion, the replication gate) and
 * receive (filters, VLAN stripping and filtering, multi-buffer frames, a full ring, the delay
 * timer). A socket pair stands in for the tap; no KVM. test_e1000.c has the rest. */
#include "unit.h"

#include <zlib.h>
#include "fake_e1000.h"

#include "devices/e1000/e1000_int.h"
#include "devices/e1000/e1000_regs.h"
#include "util/outgate.h"

/* ======================= transmit ======================= */

TEST(e1000_tx_legacy_descriptors)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	fe_w(E1000_IMS, E1000_ICR_TXDW);
	fill(fe_ram + TX_BUF, 100, 1);
	fe_txd_legacy(0, TX_BUF, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
	fe_w(E1000_TDT, 1);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), 100);
	CHECK(!memcmp(frame, fe_ram + TX_BUF, 100));
	CHECK_EQ(fe_r(E1000_TDH), 1u);
	CHECK(txd(0)[12] & E1000_TXD_STAT_DD);
	CHECK(fe.irq_level);
	CHECK_EQ_HEX(fe_r(E1000_ICR), E1000_ICR_TXDW | E1000_ICR_TXQE);
	/* statistics: one good packet of 104 bytes on the wire, cleared by reading */
	CHECK_EQ(fe_r(0x4080), 1u);    /* GPTC */
	CHECK_EQ(fe_r(0x4090), 104u);  /* GOTCL */
	CHECK_EQ(fe_r(0x4080), 0u);
	fe_teardown();
}

TEST(e1000_tx_waits_for_the_end_of_packet)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	fill(fe_ram + TX_BUF, 300, 2);
	fe_txd_legacy(0, TX_BUF, 200, 0);
	fe_w(E1000_TDT, 1);                     /* no EOP yet: nothing goes, TDH stays */
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);
	CHECK_EQ(fe_r(E1000_TDH), 0u);
	fe_txd_legacy(1, TX_BUF + 200, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	fe_w(E1000_TDT, 2);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), 300);
	CHECK(!memcmp(frame, fe_ram + TX_BUF, 300));
	CHECK_EQ(fe_r(E1000_TDH), 2u);
	CHECK(!(txd(0)[12] & E1000_TXD_STAT_DD));   /* no RS: no write-back */
	CHECK(txd(1)[12] & E1000_TXD_STAT_DD);
	/* the ring wraps */
	fe_w(E1000_TDH, 15);
	fe_w(E1000_TDT, 15);
	fe_txd_legacy(15, TX_BUF, 60, 0);
	fe_txd_legacy(0, TX_BUF + 60, 40, E1000_TXD_CMD_EOP);
	fe_w(E1000_TDT, 1);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), 100);
	CHECK_EQ(fe_r(E1000_TDH), 1u);
	fe_teardown();
}

/* An Ethernet + IPv4 + UDP/TCP packet with its pseudo-header sum in the L4 checksum field, as
 * Linux's stack leaves a CHECKSUM_PARTIAL skb. tcp: 20-byte TCP header, else UDP. */
static uint32_t build_ip(uint8_t *p, bool tcp, uint32_t payload, bool with_len)
{
	memset(p, 0, 54);
	memcpy(p, "\x02\x00\x00\x00\x00\x09", 6);
	memcpy(p + 6, fe_mac, 6);
	p[12] = 0x08;
	uint8_t *ip = p + 14;
	uint32_t l4len = (tcp ? 20 : 8) + payload;
	ip[0] = 0x45;
	put_be(ip + 2, 20 + l4len);
	put_be(ip + 4, 0x1000);
	ip[8] = 64;
	ip[9] = tcp ? 6 : 17;
	memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	uint8_t *l4 = ip + 20;
	put_be(l4, 1234);
	put_be(l4 + 2, 80);
	if (tcp) {
		put_be(l4 + 4, 0x0001);
		put_be(l4 + 6, 0x0000);   /* seq 0x00010000 */
		l4[12] = 0x50;
		l4[13] = 0x19;            /* FIN PSH ACK */
	} else {
		put_be(l4 + 4, l4len);
	}
	fill(l4 + (tcp ? 20 : 8), payload, 3);
	/* pseudo-header sum (not complemented) in the checksum field */
	uint32_t ps = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + (uint32_t)(tcp ? 6 : 17) + (with_len ? l4len : 0);
	while (ps >> 16)
		ps = (ps & 0xffff) + (ps >> 16);
	put_be(l4 + (tcp ? 16 : 6), (uint16_t)ps);
	return 14 + 20 + l4len;
}

TEST(e1000_tx_checksum_offload)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	uint32_t len = build_ip(fe_ram + TX_BUF, false, 333, true);
	/* Linux's e1000_tx_csum: a context, then data with TXSM (IP header checksum by IXSM too) */
	fe_txd_ctx(0, 14, 14 + 10, 14 + 19, 34, 34 + 6, 0, 0, E1000_TUCMD_IP, 0, 0);
	fe_txd_data(1, TX_BUF, len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		    E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	fe_w(E1000_TDT, 2);
	REQUIRE_EQ(fe_host_recv(frame, sizeof(frame)), (int)len);
	CHECK(ip_ok(frame + 14));
	CHECK(l4_ok(frame + 14, 17));
	CHECK(txd(0)[12] == 0);                          /* the context had no RS */
	CHECK(txd(1)[12] & E1000_TXD_STAT_DD);
	/* the same with a legacy descriptor's CSO/CSS: the sum from CSS to the end at CSO */
	len = build_ip(fe_ram + TX_BUF, false, 100, true);
	fe_txd_legacy(2, TX_BUF, (uint16_t)len, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC);
	txd(2)[10] = 34 + 6;
	txd(2)[13] = 34;
	fe_w(E1000_TDT, 3);
	REQUIRE_EQ(fe_host_recv(frame, sizeof(frame)), (int)len);
	CHECK(l4_ok(frame + 14, 17));
	fe_teardown();
}

TEST(e1000_tx_tcp_segmentation)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	uint32_t payload = 2500, mss = 1000;
	/* Linux's e1000_tso: IP total length and checksum zero, TCP checksum = pseudo sum without length */
	uint32_t len = build_ip(fe_ram + TX_BUF, true, payload, false);
	uint8_t *ip = fe_ram + TX_BUF + 14;
	put_be(ip + 2, 0);
	uint32_t hdr = 54;
	fe_txd_ctx(0, 14, 24, 33, 34, 34 + 16, 0, payload, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE,
		   (uint8_t)hdr, (uint16_t)mss);
	/* header and payload in separate buffers, as an skb's linear part and its pages */
	fe_txd_data(1, TX_BUF, hdr, E1000_TXD_CMD_TSE, E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	fe_txd_data(2, TX_BUF + hdr, len - hdr, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		    E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	fe_w(E1000_TDT, 3);
	uint32_t got = 0;
	for (unsigned k = 0; k < 3; k++) {
		int n = fe_host_recv(frame, sizeof(frame));
		uint32_t part = k < 2 ? mss : payload - 2 * mss;
		REQUIRE_EQ(n, (int)(hdr + part));
		const uint8_t *sip = frame + 14, *tcp = frame + 34;
		CHECK_EQ(get_be(sip + 2, 2), 40 + part);           /* total length */
		CHECK_EQ(get_be(sip + 4, 2), 0x1000 + k);          /* identification */
		CHECK(ip_ok(sip));
		CHECK_EQ(get_be(tcp + 4, 4), 0x00010000u + k * mss); /* sequence */
		CHECK_EQ(tcp[13], k < 2 ? 0x10 : 0x19);            /* FIN, PSH on the last only */
		CHECK(l4_ok(sip, 6));
		CHECK(!memcmp(frame + hdr, fe_ram + TX_BUF + hdr + k * mss, part));
		got += part;
	}
	CHECK_EQ(got, payload);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);
	CHECK(txd(2)[12] & E1000_TXD_STAT_DD);
	CHECK_EQ(fe_r(0x40f8), 1u);   /* TSCTC */
	fe_teardown();
}

/* On a tap (fe.gso) a TSO packet goes as one frame whose vnet header asks the host to segment
 * it and finish the TCP checksum; the guest's statistics count the segments all the same. */
TEST(e1000_tx_tso_as_one_gso_frame)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe.gso = true;
	fe_tx_ring();
	uint32_t payload = 2500, mss = 1000, hdr = 54;
	uint32_t len = build_ip(fe_ram + TX_BUF, true, payload, false);
	put_be(fe_ram + TX_BUF + 14 + 2, 0);
	fe_txd_ctx(0, 14, 24, 33, 34, 34 + 16, 0, payload, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE,
		   (uint8_t)hdr, (uint16_t)mss);
	fe_txd_data(1, TX_BUF, len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		    E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	fe_w(E1000_TDT, 2);
	static uint8_t b[70000];
	REQUIRE_EQ(recv(fe_peer, b, sizeof(b), MSG_DONTWAIT), (ssize_t)(12 + len));
	CHECK_EQ(recv(fe_peer, b + len + 12, 100, MSG_DONTWAIT), -1);   /* one frame only */
	CHECK_EQ(b[0], 1);                          /* NEEDS_CSUM */
	CHECK_EQ(b[1], 1);                          /* GSO TCPV4 */
	CHECK_EQ(le_load(b + 2, 2), hdr);            /* hdr_len */
	CHECK_EQ(le_load(b + 4, 2), mss);            /* gso_size */
	CHECK_EQ(le_load(b + 6, 2), 34u);            /* csum_start */
	CHECK_EQ(le_load(b + 8, 2), 16u);            /* csum_offset */
	uint8_t *f = b + 12, *ip = f + 14;
	CHECK_EQ(get_be(ip + 2, 2), len - 14);      /* the whole packet's total length */
	CHECK(ip_ok(ip));
	CHECK(!memcmp(f + hdr, fe_ram + TX_BUF + hdr, payload));
	/* what the host does with NEEDS_CSUM: the sum from csum_start, the field holding the
	 * pseudo-header's sum (with the length): complemented, it is the right checksum */
	put_be(f + 34 + 16, (uint16_t)~sum16(f + 34, len - 34, 0));
	CHECK(l4_ok(ip, 6));
	CHECK(txd(1)[12] & E1000_TXD_STAT_DD);
	CHECK_EQ(fe_r(0x4080), 3u);                 /* GPTC: three segments, as the card would */
	CHECK_EQ(fe_r(0x40f8), 1u);                 /* TSCTC */
	/* with VLAN insertion it stays segmented here */
	fe_w(E1000_CTRL, fe_r(E1000_CTRL) | E1000_CTRL_VME);
	len = build_ip(fe_ram + TX_BUF, true, payload, false);
	put_be(fe_ram + TX_BUF + 14 + 2, 0);
	fe_txd_ctx(2, 14, 24, 33, 34, 34 + 16, 0, payload, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE,
		   (uint8_t)hdr, (uint16_t)mss);
	fe_txd_data(3, TX_BUF, len, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE,
		    E1000_TXD_POPTS_TXSM | E1000_TXD_POPTS_IXSM);
	fe_w(E1000_TDT, 4);
	for (unsigned k = 0; k < 3; k++)
		CHECK(fe_host_recv(frame, sizeof(frame)) > 0);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);
	fe_teardown();
}

TEST(e1000_tx_tcp_segmentation_ipv6)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	uint8_t *p = fe_ram + TX_BUF;
	uint32_t payload = 1300, mss = 500, hdr = 14 + 40 + 20;
	memset(p, 0, hdr);
	memcpy(p, "\x02\x00\x00\x00\x00\x09", 6);
	memcpy(p + 6, fe_mac, 6);
	put_be(p + 12, 0x86dd);
	uint8_t *ip6 = p + 14, *tcp = p + 54;
	ip6[0] = 0x60;
	ip6[6] = 6;      /* next header: TCP */
	ip6[7] = 64;
	for (unsigned i = 0; i < 16; i++) {
		ip6[8 + i] = (uint8_t)(0xfd + i);
		ip6[24 + i] = (uint8_t)(0x20 + i);
	}
	put_be(tcp, 4000);
	put_be(tcp + 2, 22);
	put_be(tcp + 4, 0x1234);
	put_be(tcp + 6, 0x5678);
	tcp[12] = 0x50;
	tcp[13] = 0x18;  /* PSH ACK */
	fill(p + hdr, payload, 6);
	/* the pseudo-header sum without the length (Linux's e1000_tso for IPv6) */
	uint32_t ps = 6;
	for (unsigned i = 8; i < 40; i += 2)
		ps += get_be(ip6 + i, 2);
	while (ps >> 16)
		ps = (ps & 0xffff) + (ps >> 16);
	put_be(tcp + 16, ps);
	fe_txd_ctx(0, 14, 0, 0, 54, 54 + 16, 0, payload, E1000_TUCMD_TCP | E1000_TUCMD_TSE, (uint8_t)hdr,
		   (uint16_t)mss);
	fe_txd_data(1, TX_BUF, hdr + payload, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS,
		    E1000_TXD_POPTS_TXSM);
	fe_w(E1000_TDT, 2);
	for (unsigned k = 0; k < 3; k++) {
		uint32_t part = k < 2 ? mss : payload - 2 * mss;
		REQUIRE_EQ(fe_host_recv(frame, sizeof(frame)), (int)(hdr + part));
		const uint8_t *sip = frame + 14, *st = frame + 54;
		CHECK_EQ(get_be(sip + 4, 2), 20 + part);                /* payload length */
		CHECK_EQ(get_be(st + 4, 4), 0x12345678u + k * mss);
		CHECK_EQ(st[13], k < 2 ? 0x10 : 0x18);
		uint32_t sum = 6 + 20 + part;
		for (unsigned i = 8; i < 40; i += 2)
			sum += get_be(sip + i, 2);
		CHECK_EQ_HEX(sum16(st, 20 + part, sum), 0xffff);
	}
	fe_teardown();
}

TEST(e1000_tx_vlan_insertion)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	fe_w(E1000_CTRL, fe_r(E1000_CTRL) | E1000_CTRL_VME);
	fill(fe_ram + TX_BUF, 64, 5);
	fe_txd_legacy(0, TX_BUF, 64, E1000_TXD_CMD_EOP | E1000_TXD_CMD_VLE);
	le_store(txd(0) + 14, 0x2005, 2);   /* priority 1, VLAN 5 */
	fe_w(E1000_TDT, 1);
	REQUIRE_EQ(fe_host_recv(frame, sizeof(frame)), 68);
	CHECK(!memcmp(frame, fe_ram + TX_BUF, 12));
	CHECK_EQ_HEX(get_be(frame + 12, 2), 0x8100);
	CHECK_EQ_HEX(get_be(frame + 14, 2), 0x2005);
	CHECK(!memcmp(frame + 16, fe_ram + TX_BUF + 12, 52));
	fe_teardown();
}

TEST(e1000_tx_held_by_the_replication_gate)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_tx_ring();
	struct outgate *g = outgate_new();
	REQUIRE(g != NULL);
	fe.is_tap = true;   /* the gate holds tap traffic: the socket pair stands in for one */
	fe.gate = g;
	fill(fe_ram + TX_BUF, 90, 4);
	fe_txd_legacy(0, TX_BUF, 90, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	fe_w(E1000_TDT, 1);
	CHECK(txd(0)[12] & E1000_TXD_STAT_DD);            /* done for the guest... */
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), -1);  /* ...but held until its epoch is safe */
	uint64_t n = outgate_close_epoch(g);
	outgate_release(g, n);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), 90);
	CHECK(!memcmp(frame, fe_ram + TX_BUF, 90));
	fe.gate = NULL;
	fe.is_tap = false;
	outgate_free(g);
	fe_teardown();
}

/* ======================= receive ======================= */

TEST(e1000_rx_into_the_ring)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_rx_ring(8, E1000_RCTL_BAM);        /* 2 KiB buffers, the CRC kept as Linux expects */
	fe_w(E1000_IMS, E1000_ICR_RXT0);
	uint32_t len = eth(frame, fe_mac, 200, 1);
	REQUIRE_EQ(fe_host_send(frame, len), 12 + (int)len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 1u);
	CHECK_EQ(le_load(rxd(0) + 8, 2), 204u);            /* with the 4-byte CRC */
	/* the frame's real CRC-32, least significant byte first (e1000_fcs.c) */
	CHECK_EQ_HEX(le_load(fe_ram + RX_BUF + len, 4), crc32(crc32(0, NULL, 0), frame, len));
	CHECK_EQ_HEX(rxd(0)[12] & 3, E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP);
	CHECK(!memcmp(fe_ram + RX_BUF, frame, len));
	CHECK(fe.irq_level);
	CHECK(fe_r(E1000_ICR) & E1000_ICR_RXT0);
	/* a short frame is padded to 60 bytes (+ CRC); SECRC strips the CRC */
	fe_w(E1000_RCTL, fe_r(E1000_RCTL) | E1000_RCTL_SECRC);
	len = eth(frame, fe_mac, 42, 2);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(le_load(rxd(1) + 8, 2), 60u);
	CHECK_EQ(fe_ram[RX_BUF + 0x4000 + 59], 0);
	CHECK_EQ(fe_r(0x4074), 2u);   /* GPRC */
	fe_teardown();
}

/* The receive CRC, whichever library computes it: the standard check value of CRC-32, and
 * zlib's answer for every length around the folding's block sizes. */
TEST(e1000_fcs_is_the_ethernet_crc)
{
	e1000_fcs_init();
	CHECK_EQ_HEX(e1000_fcs((const uint8_t *)"123456789", 9), 0xcbf43926u);
	static uint8_t b[9018];
	for (size_t i = 0; i < sizeof(b); i++)
		b[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= 300; n++)
		CHECK_EQ_HEX(e1000_fcs(b, n), crc32(crc32(0, NULL, 0), b, (uInt)n));
	CHECK_EQ_HEX(e1000_fcs(b, sizeof(b)), crc32(crc32(0, NULL, 0), b, sizeof(b)));
}

TEST(e1000_rx_filters)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_rx_ring(15, E1000_RCTL_SECRC);
	static const uint8_t other[6] = { 0x02, 0, 0, 0, 0, 0x77 }, bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	uint32_t len = eth(frame, other, 100, 1);
	fe_host_send(frame, len);
	len = eth(frame, bcast, 100, 1);
	fe_host_send(frame, len);
	len = eth(frame, mcast, 100, 1);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 0u);                   /* none is ours, no BAM, no MTA bit */
	CHECK_EQ(fe.stats.rx_filtered, 3u);
	/* BAM, the multicast hash (MO 0: bits 47..36 of the address), a second RA entry, UPE */
	fe_w(E1000_RCTL, fe_r(E1000_RCTL) | E1000_RCTL_BAM);
	unsigned h = ((unsigned)mcast[4] >> 4 | (unsigned)mcast[5] << 4) & 0xfff;
	fe_w(E1000_MTA + 4 * (h >> 5), 1u << (h & 31));
	fe_w(E1000_RA + 8, 0x00000002u);
	fe_w(E1000_RA + 12, 0x7700u | E1000_RAH_AV);
	len = eth(frame, bcast, 100, 1);
	fe_host_send(frame, len);
	len = eth(frame, mcast, 100, 1);
	fe_host_send(frame, len);
	len = eth(frame, other, 100, 1);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 3u);
	CHECK_EQ(fe_r(0x4078), 1u);   /* BPRC */
	CHECK_EQ(fe_r(0x407c), 1u);   /* MPRC */
	fe_w(E1000_RA + 12, 0);
	static const uint8_t third[6] = { 0x02, 1, 2, 3, 4, 5 };
	len = eth(frame, third, 100, 1);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 3u);
	fe_w(E1000_RCTL, fe_r(E1000_RCTL) | E1000_RCTL_UPE);   /* promiscuous */
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 4u);
	fe_teardown();
}

TEST(e1000_rx_waits_for_buffers)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_rx_ring(1, E1000_RCTL_SECRC);       /* one buffer */
	uint32_t len = eth(frame, fe_mac, 300, 1);
	fe_host_send(frame, len);
	len = eth(frame, fe_mac, 400, 2);
	fe_host_send(frame, len);
	static uint8_t third[600];
	uint32_t len3 = eth(third, fe_mac, 500, 3);
	fe_host_send(third, len3);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 1u);
	CHECK(fe.rx_waiting);
	CHECK_EQ(fe.stats.rx_dropped, 0u);
	/* more buffers: the frame that waited and the one queued in the tap meanwhile arrive
	 * within the register write itself, without a turn of the I/O thread */
	fe_w(E1000_RDT, 4);
	CHECK(!fe.rx_waiting);
	CHECK_EQ(fe_r(E1000_RDH), 3u);
	CHECK_EQ(le_load(rxd(1) + 8, 2), 400u);
	CHECK(!memcmp(fe_ram + RX_BUF + 0x4000, frame, 400));
	CHECK_EQ(le_load(rxd(2) + 8, 2), 500u);
	CHECK(!memcmp(fe_ram + RX_BUF + 0x8000, third, 500));
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 3u);
	fe_teardown();
}

TEST(e1000_rx_large_frame_over_several_buffers)
{
	REQUIRE_EQ(fe_setup(true), 0);
	/* 1 KiB buffers (BSIZE 01), long packets allowed */
	fe_rx_ring(8, E1000_RCTL_SECRC | E1000_RCTL_LPE | 1u << E1000_RCTL_BSIZE_SHIFT);
	uint32_t len = eth(frame, fe_mac, 3000, 4);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 3u);
	CHECK_EQ(le_load(rxd(0) + 8, 2), 1024u);
	CHECK_EQ(rxd(0)[12] & E1000_RXD_STAT_EOP, 0);
	CHECK_EQ(le_load(rxd(2) + 8, 2), 3000u - 2048);
	CHECK(rxd(2)[12] & E1000_RXD_STAT_EOP);
	CHECK(!memcmp(fe_ram + RX_BUF + 0x4000 * 2, frame + 2048, 3000 - 2048));
	/* without LPE a frame over 1522 bytes is dropped (ROC) */
	fe_w(E1000_RCTL, fe_r(E1000_RCTL) & ~E1000_RCTL_LPE);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 3u);
	CHECK_EQ(fe_r(0x40ac), 1u);
	fe_teardown();
}

TEST(e1000_jumbo_frames)
{
	REQUIRE_EQ(fe_setup(true), 0);
	/* receive: a 9014-byte frame in 2 KiB buffers (BSIZE 00) takes five descriptors */
	fe_rx_ring(8, E1000_RCTL_SECRC | E1000_RCTL_LPE);
	uint32_t len = eth(frame, fe_mac, 9014, 5);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 5u);
	for (unsigned i = 0; i < 4; i++) {
		CHECK_EQ(le_load(rxd(i) + 8, 2), 2048u);
		CHECK_EQ(rxd(i)[12] & E1000_RXD_STAT_EOP, 0);
		CHECK(!memcmp(fe_ram + RX_BUF + 0x4000 * i, frame + 2048 * i, 2048));
	}
	CHECK_EQ(le_load(rxd(4) + 8, 2), 9014u - 4 * 2048);
	CHECK(rxd(4)[12] & E1000_RXD_STAT_EOP);
	CHECK(!memcmp(fe_ram + RX_BUF + 0x4000 * 4, frame + 4 * 2048, 9014 - 4 * 2048));
	CHECK_EQ(fe_r(0x40ac), 0u);   /* ROC */
	fe_teardown();

	/* with 16 KiB buffers (BSEX, BSIZE 01): 16384 bytes on the wire (CRC included) is the
	 * longest frame LPE lets in; one byte more is dropped and counted in ROC */
	REQUIRE_EQ(fe_setup(true), 0);
	fe_rx_ring(8, E1000_RCTL_SECRC | E1000_RCTL_LPE | E1000_RCTL_BSEX | 1u << E1000_RCTL_BSIZE_SHIFT);
	len = eth(frame, fe_mac, 16380, 6);
	fe_host_send(frame, len);
	len = eth(frame, fe_mac, 16381, 7);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 1u);
	CHECK_EQ(le_load(rxd(0) + 8, 2), 16380u);
	CHECK(rxd(0)[12] & E1000_RXD_STAT_EOP);
	CHECK_EQ(fe_r(0x40ac), 1u);
	CHECK(!fe.rx_waiting);

	/* transmit: a 9014-byte frame gathered from three buffers goes out whole */
	fe_tx_ring();
	fill(fe_ram + TX_BUF, 9014, 8);
	fe_txd_legacy(0, TX_BUF, 4096, 0);
	fe_txd_legacy(1, TX_BUF + 4096, 4096, 0);
	fe_txd_legacy(2, TX_BUF + 8192, 9014 - 8192, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
	fe_w(E1000_TDT, 3);
	CHECK_EQ(fe_host_recv(frame, sizeof(frame)), 9014);
	CHECK(!memcmp(frame, fe_ram + TX_BUF, 9014));
	CHECK_EQ(fe_r(E1000_TDH), 3u);
	CHECK_EQ(fe_r(0x4090), 9018u);   /* GOTCL: the frame and its CRC */
	fe_teardown();
}

TEST(e1000_rx_vlan_strip_and_filter)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_rx_ring(8, E1000_RCTL_SECRC | E1000_RCTL_VFE);
	fe_w(E1000_CTRL, fe_r(E1000_CTRL) | E1000_CTRL_VME);
	fe_w(E1000_VFTA + 4 * (5 >> 5), 1u << 5);   /* VLAN 5 only */
	uint8_t tagged[200];
	uint32_t len = eth(tagged, fe_mac, 200, 1);
	memmove(tagged + 16, tagged + 12, len - 16);
	put_be(tagged + 12, 0x8100);
	put_be(tagged + 14, 0x0005);
	fe_host_send(tagged, len);
	put_be(tagged + 14, 0x0006);                 /* VLAN 6: filtered */
	fe_host_send(tagged, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 1u);
	CHECK(rxd(0)[12] & E1000_RXD_STAT_VP);
	CHECK_EQ(le_load(rxd(0) + 14, 2), 5u);
	CHECK_EQ(le_load(rxd(0) + 8, 2), len - 4);    /* the tag is gone */
	CHECK_EQ_HEX(get_be(fe_ram + RX_BUF + 12, 2), get_be(tagged + 16, 2));
	fe_teardown();
}

TEST(e1000_rx_delay_timer)
{
	REQUIRE_EQ(fe_setup(true), 0);
	fe_rx_ring(8, E1000_RCTL_SECRC);
	fe_w(E1000_IMS, E1000_ICR_RXT0);
	fe_w(E1000_RDTR, 5000);                      /* 5.12 ms after the last frame */
	uint32_t len = eth(frame, fe_mac, 100, 1);
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK_EQ(fe_r(E1000_RDH), 1u);
	CHECK(!fe.irq_level);                         /* not yet */
	sleep_us(7000);
	e1000_poll(&fe);
	CHECK(fe.irq_level);
	CHECK(fe_r(E1000_ICR) & E1000_ICR_RXT0);
	/* FPD flushes a pending delay at once */
	fe_host_send(frame, len);
	e1000_poll(&fe);
	CHECK(!fe.irq_level);
	fe_w(E1000_RDTR, 5000 | 0x80000000u);
	CHECK(fe.irq_level);
	fe_teardown();
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
