/* MMDS without a VM: the ARP/IPv4/TCP stack fed with Ethernet frames as a guest sends them
 * (ARP, handshake, segmentation and retransmission, checksums, resets, connection limits) and
 * the rules for the MMDS address. Behaviour follows Firecracker's src/vmm/src/mmds tests. */
#include "unit.h"
#include "mmds_text.h"

#include "mmds/mmds.h"
#include "mmds/proto.h"
#include "config/mmds_config.h"
#include "mmds/stack.h"

#include <errno.h>

/* ---- the network stack, frame by frame ---- */

#define GUEST_IP 0x0a000002u    /* 10.0.0.2 */
static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct peer {
	struct mmds_stack s;
	struct mmds *m;
	uint16_t port;
	uint32_t seq, ack;    /* the guest's next seq, what it acknowledges */
	uint64_t now;
};

static size_t guest_frame(uint8_t *f, uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags,
			  const char *data, size_t len, uint16_t mss)
{
	memcpy(f, "\x06\x01\x23\x45\x67\x01", 6);
	memcpy(f + 6, guest_mac, 6);
	wr16(f + 12, ETHERTYPE_IPV4);
	struct mmds_tcp_seg s = { .remote_ip = MMDS_DEFAULT_IPV4, .remote_port = 80, .local_port = port,
				  .seq = seq, .ack = ack, .flags = flags, .window = 64000, .mss = mss,
				  .data = (const uint8_t *)data, .len = len };
	return ETH_HDR_LEN + ip_write_tcp(f + ETH_HDR_LEN, GUEST_IP, 1, &s);
}

static void send_seg(struct peer *p, uint8_t flags, const char *data, size_t len)
{
	static uint8_t f[8192];
	size_t n = guest_frame(f, p->port, p->seq, p->ack, flags, data, len, flags & TCP_SYN ? 1460 : 0);
	CHECK(mmds_stack_wants(&p->s, f, n));
	mmds_stack_rx(&p->s, f, n, false, p->now);
	p->seq += (uint32_t)len + !!(flags & TCP_SYN) + !!(flags & TCP_FIN);
}

/* The next segment MMDS sends (false if none), checked as the guest's kernel would. */
static bool recv_seg(struct peer *p, struct mmds_tcp_seg *seg, uint8_t *buf)
{
	size_t n = mmds_stack_tx(&p->s, buf, p->now);
	if (!n)
		return false;
	CHECK(n <= MMDS_FRAME_MAX);
	CHECK(!memcmp(buf, guest_mac, 6));
	CHECK_EQ(rd16(buf + 12), ETHERTYPE_IPV4);
	CHECK_EQ(ip_parse_tcp(buf + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, seg), IP_OK);
	CHECK_EQ(seg->remote_ip, MMDS_DEFAULT_IPV4);
	return true;
}

static void peer_init(struct peer *p, uint16_t port)
{
	memset(p, 0, sizeof(*p));
	p->m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	json_t *d = J("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\"}}}");
	mmds_put(p->m, d);
	json_decref(d);
	mmds_stack_init(&p->s, p->m, MMDS_DEFAULT_IPV4);
	p->port = port;
	p->seq = 1000;
	p->now = 1;
}

static void peer_free(struct peer *p)
{
	mmds_stack_free(&p->s);
	mmds_unref(p->m);
}

/* Handshake on p->port; true when established. */
static bool handshake(struct peer *p)
{
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	send_seg(p, TCP_SYN, NULL, 0);
	if (!recv_seg(p, &seg, buf))
		return false;
	CHECK_EQ(seg.flags, TCP_SYN | TCP_ACK);
	CHECK_EQ(seg.ack, p->seq);
	CHECK_EQ(seg.mss, MMDS_TCP_MSS);
	p->ack = seg.seq + 1;
	send_seg(p, TCP_ACK, NULL, 0);
	return seg.flags == (TCP_SYN | TCP_ACK);
}

TEST(stack_arp_reply)
{
	struct peer p;
	peer_init(&p, 40000);
	uint8_t f[64] = { 0 };
	memset(f, 0xff, 6);
	memcpy(f + 6, guest_mac, 6);
	wr16(f + 12, ETHERTYPE_ARP);
	uint8_t *a = f + ETH_HDR_LEN;
	static const uint8_t unknown[6];
	arp_write(a, ARP_OP_REQUEST, guest_mac, GUEST_IP, unknown, 0x0a000001);
	CHECK(!mmds_stack_wants(&p.s, f, 42));   /* someone else's address: to the tap */
	wr32(a + 24, MMDS_DEFAULT_IPV4);
	REQUIRE(mmds_stack_wants(&p.s, f, 42));
	mmds_stack_rx(&p.s, f, 42, false, 1);
	uint8_t out[MMDS_FRAME_MAX];
	size_t n = mmds_stack_tx(&p.s, out, 1);
	REQUIRE_EQ(n, 42);
	CHECK(!memcmp(out, guest_mac, 6));
	CHECK(!memcmp(out + 6, "\x06\x01\x23\x45\x67\x01", 6));
	CHECK_EQ(rd16(out + ETH_HDR_LEN + 6), 2);
	CHECK(!memcmp(out + ETH_HDR_LEN + 8, "\x06\x01\x23\x45\x67\x01", 6));
	CHECK_EQ(rd32(out + ETH_HDR_LEN + 14), MMDS_DEFAULT_IPV4);
	CHECK_EQ(rd32(out + ETH_HDR_LEN + 24), GUEST_IP);
	CHECK_EQ(mmds_stack_tx(&p.s, out, 1), 0);
	peer_free(&p);
}

/* Read the whole response (acknowledging each segment) into resp. */
static void read_response(struct peer *p, char *resp, size_t cap, bool *fin)
{
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	size_t len = 0;
	*fin = false;
	while (recv_seg(p, &seg, buf)) {
		CHECK_EQ(seg.seq, p->ack);
		if (seg.len && len + seg.len < cap) {
			memcpy(resp + len, seg.data, seg.len);
			len += seg.len;
		}
		p->ack = seg.seq + (uint32_t)seg.len + !!(seg.flags & TCP_FIN);
		if (seg.flags & TCP_FIN)
			*fin = true;
		if (seg.len || (seg.flags & TCP_FIN))
			send_seg(p, TCP_ACK, NULL, 0);
	}
	resp[len] = '\0';
}

TEST(stack_tcp_request_response_fin)
{
	struct peer p;
	peer_init(&p, 40001);
	REQUIRE(handshake(&p));
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 1);
	const char *req = "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
	send_seg(&p, TCP_ACK | TCP_PSH, req, strlen(req));
	char resp[4096];
	bool fin;
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK_CONTAINS(resp, "HTTP/1.1 200 \r\n");
	CHECK_STR_EQ(body_of(resp), "ami-12345678");
	CHECK(!fin);
	/* A second request on the same connection (keep-alive), split over two segments. */
	send_seg(&p, TCP_ACK, "GET /latest HTTP/1.1\r\n", 22);
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK_STR_EQ(resp, "");
	send_seg(&p, TCP_ACK | TCP_PSH, "\r\n", 2);
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK_STR_EQ(body_of(resp), "meta-data/");
	/* The guest closes: MMDS acknowledges and closes too, then forgets the connection. */
	send_seg(&p, TCP_ACK | TCP_FIN, NULL, 0);
	read_response(&p, resp, sizeof(resp), &fin);
	CHECK(fin);
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 0);
	CHECK_EQ(p.m->metrics.connections_created, 1);
	CHECK_EQ(p.m->metrics.connections_destroyed, 1);
	peer_free(&p);
}

/* A response larger than the MSS goes out in several segments; a lost one is sent again. */
TEST(stack_tcp_segments_and_retransmit)
{
	struct peer p;
	peer_init(&p, 40002);
	char *big = malloc(5000);
	REQUIRE(big);
	memset(big, 'x', 4999);
	big[4999] = '\0';
	json_t *d = json_pack("{s:s}", "big", big);
	CHECK_EQ(mmds_put(p.m, d), MMDS_STORE_OK);
	json_decref(d);
	REQUIRE(handshake(&p));
	const char *req = "GET /big HTTP/1.1\r\nConnection: close\r\n\r\n";
	send_seg(&p, TCP_ACK | TCP_PSH, req, strlen(req));
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	REQUIRE(recv_seg(&p, &seg, buf));    /* the first segment is "lost" */
	CHECK_EQ(seg.len, MMDS_TCP_MSS);
	uint32_t first = seg.seq;
	while (recv_seg(&p, &seg, buf))
		;
	CHECK(mmds_stack_next_timer(&p.s, p.now) > 0);
	p.now += MMDS_TCP_RTO_MS;
	CHECK_EQ(mmds_stack_next_timer(&p.s, p.now), 0);
	REQUIRE(recv_seg(&p, &seg, buf));
	CHECK_EQ(seg.seq, first);            /* go back to the first unacknowledged byte */
	p.ack = first;
	char *resp = malloc(8192);
	REQUIRE(resp);
	bool fin;
	/* Acknowledge from the start: read_response collects from the retransmission on. */
	memcpy(resp, seg.data, seg.len);
	p.ack = seg.seq + (uint32_t)seg.len;
	send_seg(&p, TCP_ACK, NULL, 0);
	read_response(&p, resp + seg.len, 8192 - seg.len, &fin);
	CHECK_CONTAINS(resp, "Content-Length: 4999\r\n");
	CHECK_EQ(strlen(body_of(resp)), 4999);
	CHECK(fin);                          /* Connection: close */
	send_seg(&p, TCP_ACK | TCP_FIN, NULL, 0);
	read_response(&p, resp, 8192, &fin);
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 0);
	free(resp);
	free(big);
	peer_free(&p);
}

TEST(stack_drops_bad_checksums)
{
	struct peer p;
	peer_init(&p, 40003);
	uint8_t f[256];
	size_t n = guest_frame(f, p.port, 1000, 0, TCP_SYN, NULL, 0, 1460);
	f[n - 1] ^= 0x55;   /* the TCP checksum covers the MSS option */
	mmds_stack_rx(&p.s, f, n, false, 1);
	uint8_t out[MMDS_FRAME_MAX];
	CHECK_EQ(mmds_stack_tx(&p.s, out, 1), 0);
	CHECK_EQ(p.m->metrics.rx_accepted_err, 1);
	/* With NEEDS_CSUM the guest left the TCP checksum to the device: accepted. */
	mmds_stack_rx(&p.s, f, n, true, 1);
	CHECK(mmds_stack_tx(&p.s, out, 1) > 0);
	/* The IPv4 header checksum is always checked. */
	n = guest_frame(f, 40004, 1000, 0, TCP_SYN, NULL, 0, 1460);
	f[ETH_HDR_LEN + 8] ^= 1;   /* TTL */
	mmds_stack_rx(&p.s, f, n, true, 1);
	CHECK_EQ(mmds_stack_tx(&p.s, out, 1), 0);
	CHECK_EQ(p.m->metrics.rx_accepted_err, 2);
	peer_free(&p);
}

/* Firecracker's endpoint resets a connection whose request outgrows its 2500-byte buffer. */
TEST(stack_oversized_request_resets)
{
	struct peer p;
	peer_init(&p, 40005);
	REQUIRE(handshake(&p));
	char junk[1400];
	memset(junk, 'a', sizeof(junk));
	memcpy(junk, "GET /", 5);
	send_seg(&p, TCP_ACK, junk, sizeof(junk));
	send_seg(&p, TCP_ACK, junk + 5, sizeof(junk) - 5);
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	bool rst = false;
	while (recv_seg(&p, &seg, buf))
		rst |= (seg.flags & TCP_RST) != 0;
	CHECK(rst);
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), 0);
	peer_free(&p);
}

TEST(stack_too_many_connections)
{
	struct peer p;
	peer_init(&p, 41000);
	for (unsigned i = 0; i < MMDS_TCP_MAX_CONN; i++) {
		p.port = (uint16_t)(41000 + i);
		p.seq = 1000;
		REQUIRE(handshake(&p));
	}
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), MMDS_TCP_MAX_CONN);
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	p.port = 42000;
	p.seq = 5000;
	send_seg(&p, TCP_SYN, NULL, 0);
	REQUIRE(recv_seg(&p, &seg, buf));
	CHECK_EQ(seg.flags, TCP_RST | TCP_ACK);
	CHECK_EQ(seg.ack, 5001);
	/* Once the others have been idle long enough, one of them makes room. */
	p.now += MMDS_TCP_EVICT_MS + 1;
	p.seq = 6000;
	send_seg(&p, TCP_SYN, NULL, 0);
	bool synack = false, rst = false;
	while (recv_seg(&p, &seg, buf)) {
		synack |= seg.flags == (TCP_SYN | TCP_ACK);
		rst |= (seg.flags & TCP_RST) && seg.remote_port != 42000;
	}
	CHECK(synack);
	CHECK(rst);   /* the evicted one is told */
	CHECK_EQ(mmds_tcp_connections(&p.s.tcp), MMDS_TCP_MAX_CONN);
	peer_free(&p);
}

TEST(stack_rst_for_strangers)
{
	struct peer p;
	peer_init(&p, 43000);
	uint8_t buf[MMDS_FRAME_MAX];
	struct mmds_tcp_seg seg;
	p.ack = 777;
	send_seg(&p, TCP_ACK, "x", 1);      /* no such connection */
	REQUIRE(recv_seg(&p, &seg, buf));
	CHECK_EQ(seg.flags, TCP_RST);
	CHECK_EQ(seg.seq, 777);
	send_seg(&p, TCP_RST, NULL, 0);     /* never answered */
	CHECK(!recv_seg(&p, &seg, buf));
	peer_free(&p);
}

TEST(ipv4_address_rules)
{
	uint32_t ip;
	CHECK_EQ(mmds_parse_ipv4("169.254.169.254", &ip), 0);
	CHECK_EQ(ip, MMDS_DEFAULT_IPV4);
	CHECK_EQ(mmds_parse_ipv4("169.254.1.0", &ip), 0);
	CHECK_EQ(mmds_parse_ipv4("169.254.0.1", &ip), -ERANGE);
	CHECK_EQ(mmds_parse_ipv4("169.254.255.1", &ip), -ERANGE);
	CHECK_EQ(mmds_parse_ipv4("10.0.0.1", &ip), -ERANGE);
	CHECK_EQ(mmds_parse_ipv4("169.254.300.1", &ip), -EINVAL);
	CHECK_EQ(mmds_parse_ipv4("foo", &ip), -EINVAL);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
