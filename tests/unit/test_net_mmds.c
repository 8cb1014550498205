/* virtio-net with MMDS on it, without KVM: the device over a datagram socket pair (the "tap"),
 * guest memory a heap buffer, rings written by the test as a driver would. Frames for the
 * metadata address must be answered into the receive queue and never reach the tap; other
 * frames must still go to the tap; replies wait for receive buffers and go out when the driver
 * adds them. Mirrors what Firecracker's net device tests check of its MMDS detour
 * (src/vmm/src/devices/virtio/net/device.rs test_mmds_detour_and_injection). */
#include "unit.h"
#include "mmds_frames.h"
#include "fake_ring.h"

#include "vm/device_params.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_mmds.h"
#include "memory/guest_mem.h"
#include "mmds/proto.h"
#include "config/mmds_config.h"
#include "mmds/stack.h"
#include "util/log.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define TXBUF 0x10000
#define RXBUF 0x40000
#define GUEST_IP 0x0a000002u

static const uint8_t guest_mac[6] = { 2, 0, 0, 0, 0, 7 };

struct fixture {
	struct virtio_net n;
	int peer;
	struct mmds *m;
	unsigned tx_next, rx_next, rx_seen;
};

static int setup(struct fixture *f, uint64_t features)
{
	mem_setup();
	memset(f, 0, sizeof(*f));
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = "sp", .has_mac = true,
				  .guest_mac = { 2, 0, 0, 0, 0, 7 } };
	int err = virtio_net_create_fd(&f->n, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, sv[0], &mem, NULL);
	if (err < 0)
		return err;
	f->peer = sv[1];
	f->m = mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	json_t *d = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\"}}}", 0, NULL);
	mmds_put(f->m, d);
	json_decref(d);
	if ((err = net_mmds_enable(&f->n, f->m, MMDS_DEFAULT_IPV4)) < 0)
		return err;
	start(&f->n.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | features, 2);
	return 0;
}

static void teardown(struct fixture *f)
{
	virtio_dev_destroy(&f->n.vdev);
	close(f->peer);
	mmds_unref(f->m);
}

/* The guest transmits a frame (vnet header + frame, header in its own descriptor). */
static void guest_tx(struct fixture *f, const uint8_t *frame, size_t len, uint8_t vnet_flags)
{
	unsigned i = (f->tx_next * 2) % QS;
	uint64_t a = TXBUF + 0x1000ull * (f->tx_next % 16);
	memset(ram + a, 0, 12);
	ram[a] = vnet_flags;
	memcpy(ram + a + 0x100, frame, len);
	set_desc(1, i, a, 12, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	set_desc(1, i + 1, a + 0x100, (uint32_t)len, 0, 0);
	publish(1, (uint16_t)i);
	f->tx_next++;
	notify(&f->n.vdev, VIRTIO_NET_TXQ);
}

static void guest_rx_buffers(struct fixture *f, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		unsigned i = f->rx_next % QS;
		set_desc(0, i, RXBUF + 0x1000ull * i, 0x1000, VIRTQ_DESC_F_WRITE, 0);
		publish(0, (uint16_t)i);
		f->rx_next++;
	}
	notify(&f->n.vdev, VIRTIO_NET_RXQ);
}

/* The next received frame (after its vnet header) into out: its length, 0 if none. */
static size_t guest_rx(struct fixture *f, uint8_t *out)
{
	if (used_idx(0) == (uint16_t)f->rx_seen)
		return 0;
	struct virtq_used_elem e = used_elem(0, f->rx_seen++);
	CHECK(e.len >= 12);
	uint8_t *b = ram + RXBUF + 0x1000ull * e.id;
	uint16_t nb;
	memcpy(&nb, b + 10, 2);
	CHECK_EQ(nb, 1);
	memcpy(out, b + 12, e.len - 12);
	return e.len - 12;
}

static size_t tcp_frame(uint8_t *fr, uint16_t port, uint32_t seq, uint32_t ack, uint8_t flags,
			const char *data, uint16_t mss)
{
	return mmds_tcp_frame(fr, guest_mac, GUEST_IP, port, seq, ack, flags, data, mss);
}

static bool tap_got_nothing(struct fixture *f)
{
	uint8_t b[2048];
	return recv(f->peer, b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

TEST(arp_answered_not_forwarded)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), 0);
	uint8_t fr[64] = { 0 };
	memset(fr, 0xff, 6);
	memcpy(fr + 6, guest_mac, 6);
	wr16(fr + 12, ETHERTYPE_ARP);
	uint8_t *a = fr + ETH_HDR_LEN;
	static const uint8_t unknown[6];
	arp_write(a, ARP_OP_REQUEST, guest_mac, GUEST_IP, unknown, MMDS_DEFAULT_IPV4);
	guest_tx(&f, fr, 42, 0);
	CHECK_EQ(used_idx(1), 1);              /* the chain went back to the driver */
	CHECK(tap_got_nothing(&f));
	uint8_t out[2048];
	CHECK_EQ(guest_rx(&f, out), 0);        /* no receive buffers yet: the reply waits */
	guest_rx_buffers(&f, 2);
	size_t n = guest_rx(&f, out);
	REQUIRE_EQ(n, 42);
	CHECK(!memcmp(out, guest_mac, 6));
	CHECK_EQ(rd16(out + 12), ETHERTYPE_ARP);
	CHECK_EQ(rd16(out + ETH_HDR_LEN + 6), 2);
	CHECK_EQ(rd32(out + ETH_HDR_LEN + 14), MMDS_DEFAULT_IPV4);
	CHECK_EQ(guest_rx(&f, out), 0);
	/* ARP for another address goes to the tap as before. */
	wr32(a + 24, 0x0a000001);
	guest_tx(&f, fr, 42, 0);
	uint8_t b[128];
	CHECK_EQ(recv(f.peer, b, sizeof(b), MSG_DONTWAIT), 12 + 42);
	teardown(&f);
}

/* A whole HTTP exchange through the queues, with NEEDS_CSUM frames as Linux sends them. */
static void http_exchange(uint64_t features)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, features), 0);
	guest_rx_buffers(&f, 8);
	uint8_t fr[2048], out[2048];
	size_t len = tcp_frame(fr, 40000, 100, 0, TCP_SYN, NULL, 1460);
	fr[ETH_HDR_LEN + IPV4_HDR_LEN + 16] ^= 0xff;   /* a partial checksum: only with NEEDS_CSUM */
	guest_tx(&f, fr, len, 1);
	size_t n = guest_rx(&f, out);
	REQUIRE(n > ETH_HDR_LEN);
	struct mmds_tcp_seg s;
	REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
	CHECK_EQ(s.flags, TCP_SYN | TCP_ACK);
	uint32_t mmds_seq = s.seq + 1;
	const char *req = "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n";
	guest_tx(&f, fr, tcp_frame(fr, 40000, 101, mmds_seq, TCP_ACK, NULL, 0), 0);
	guest_tx(&f, fr, tcp_frame(fr, 40000, 101, mmds_seq, TCP_ACK | TCP_PSH, req, 0), 0);
	char resp[1024] = "";
	while ((n = guest_rx(&f, out)) > 0) {
		REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
		if (s.len)
			memcpy(resp + strlen(resp), s.data, s.len < 500 ? s.len : 500);
	}
	CHECK_CONTAINS(resp, "HTTP/1.1 200 \r\n");
	CHECK_CONTAINS(resp, "\r\n\r\nami-12345678");
	CHECK(tap_got_nothing(&f));
	CHECK_EQ(f.m->metrics.connections_created, 1);
	teardown(&f);
}

TEST(http_exchange_mergeable)
{
	http_exchange(VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
}

TEST(http_exchange_one_buffer_per_frame)
{
	http_exchange(0);
}

/* An unacknowledged answer is sent again when the device's timerfd fires (the I/O thread's
 * wake-up, here virtio_net_poll). */
TEST(retransmission_timer)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), 0);
	guest_rx_buffers(&f, 8);
	uint8_t fr[2048], out[2048];
	guest_tx(&f, fr, tcp_frame(fr, 40001, 100, 0, TCP_SYN, NULL, 1460), 0);
	size_t n = guest_rx(&f, out);
	struct mmds_tcp_seg s;
	REQUIRE(n > ETH_HDR_LEN);
	REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
	uint32_t mmds_seq = s.seq + 1;
	guest_tx(&f, fr, tcp_frame(fr, 40001, 101, mmds_seq, TCP_ACK | TCP_PSH, "GET / HTTP/1.1\r\n\r\n", 0), 0);
	unsigned data_frames = 0;
	while ((n = guest_rx(&f, out)) > 0) {
		REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
		data_frames += s.len > 0;
	}
	CHECK_EQ(data_frames, 1);
	usleep((MMDS_TCP_RTO_MS + 50) * 1000);
	virtio_net_poll(&f.n);
	n = guest_rx(&f, out);
	REQUIRE(n > ETH_HDR_LEN);
	REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
	CHECK_EQ(s.seq, mmds_seq);   /* the same bytes again */
	CHECK(s.len > 0);
	teardown(&f);
}

/* A guest that gives no buffers: replies wait (one frame held, the rest is TCP state) and the
 * device does not spin or grow; buffers added later carry them. */
TEST(replies_wait_for_buffers)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), 0);
	uint8_t fr[256], out[2048];
	for (uint16_t p = 0; p < 40; p++)
		guest_tx(&f, fr, tcp_frame(fr, (uint16_t)(41000 + p), 5, 0, TCP_SYN, NULL, 1460), 0);
	CHECK_EQ(used_idx(1), 40);
	CHECK_EQ(guest_rx(&f, out), 0);
	CHECK_EQ(f.m->metrics.connections_created, MMDS_TCP_MAX_CONN);
	unsigned synacks = 0, rsts = 0;
	for (unsigned round = 0; round < 10; round++) {
		guest_rx_buffers(&f, QS);
		size_t n;
		struct mmds_tcp_seg s;
		while ((n = guest_rx(&f, out)) > 0) {
			REQUIRE_EQ(ip_parse_tcp(out + ETH_HDR_LEN, n - ETH_HDR_LEN, GUEST_IP, false, &s), IP_OK);
			synacks += s.flags == (TCP_SYN | TCP_ACK);
			rsts += (s.flags & TCP_RST) != 0;
		}
	}
	CHECK_EQ(synacks, MMDS_TCP_MAX_CONN);
	CHECK_EQ(rsts, 10);
	teardown(&f);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
