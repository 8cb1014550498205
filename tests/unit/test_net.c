/* Unit tests for virtio-net (a SOCK_DGRAM socket pair stands in for the tap: one datagram =
 * one frame with its vnet header) and for virtio-vsock's packet parser and connection mux
 * (real Unix sockets in a temporary directory). Guest memory is a heap buffer; no KVM. */
#include "unit.h"
#include "fake_ring.h"

#include "vm/device_params.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/vsock.h"
#include "memory/guest_mem.h"
#include "vsock/vsock_mux.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define BUF 0x10000   /* buffers from here */

/* ======================= virtio-net ======================= */

struct net_fixture {
	struct virtio_net n;
	int peer;   /* the "host" end */
};

static struct net_fixture nf;

static int net_setup(uint64_t features)
{
	mem_setup();
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -errno;
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = "sp", .has_mac = true,
				  .guest_mac = { 2, 0, 0, 0, 0, 7 } };
	int err = virtio_net_create_fd(&nf.n, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, sv[0], &mem, NULL);
	if (err < 0)
		return err;
	nf.peer = sv[1];
	start(&nf.n.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | features, 2);
	return 0;
}

static void net_teardown(void)
{
	virtio_dev_destroy(&nf.n.vdev);
	close(nf.peer);
}

/* A frame from the host: 12-byte vnet header (zero) + len bytes of pattern. */
static void host_send(uint32_t len, uint8_t seed)
{
	static uint8_t f[70000];
	memset(f, 0, 12);
	for (uint32_t i = 0; i < len; i++)
		f[12 + i] = (uint8_t)(seed + i * 3);
	CHECK_EQ(send(nf.peer, f, 12 + len, 0), 12 + len);
}

/* The num_buffers field of the vnet header at the start of the chain at guest address at. */
static uint16_t num_buffers(uint64_t at)
{
	uint16_t nb;
	memcpy(&nb, ram + at + 10, 2);
	return nb;
}

static void rx_buf(unsigned i, uint32_t len)
{
	set_desc(0, i, BUF + 0x2000ull * i, len, VIRTQ_DESC_F_WRITE, 0);
	publish(0, (uint16_t)i);
}

/* A driver with mergeable buffers that posted n of len bytes and told the device. */
static int mrg_setup_with_buffers(unsigned n, uint32_t len)
{
	int e = net_setup(VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	if (e < 0)
		return e;
	for (unsigned i = 0; i < n; i++)
		rx_buf(i, len);
	notify(&nf.n.vdev, VIRTIO_NET_RXQ);
	return 0;
}

TEST(net_config_space_and_features)
{
	REQUIRE_EQ(net_setup(VIRTIO_BIT(VIRTIO_NET_F_MAC)), 0);
	uint8_t cfg[12];
	virtio_config_access(&nf.n.vdev, 0, cfg, 12, false);
	CHECK(!memcmp(cfg, (uint8_t[]){ 2, 0, 0, 0, 0, 7 }, 6));
	CHECK_EQ(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	CHECK_EQ(cfg[8] | cfg[9] << 8, 1);
	CHECK(nf.n.vdev.host_features & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	CHECK(nf.n.vdev.host_features & VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4));
	CHECK(!(nf.n.vdev.host_features & VIRTIO_BIT(VIRTIO_NET_F_MTU)));
	/* a control queue, for the announcement acknowledgement only (test_net_ctrl.c) */
	CHECK(nf.n.vdev.host_features & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ));
	CHECK(nf.n.vdev.host_features & VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE));
	CHECK_EQ(nf.n.vdev.nqueues, 3u);
	/* writes to the MAC are ignored */
	uint8_t z = 0xff;
	virtio_config_access(&nf.n.vdev, 0, &z, 1, true);
	virtio_config_access(&nf.n.vdev, 0, cfg, 1, false);
	CHECK_EQ(cfg[0], 2);
	net_teardown();
}

TEST(net_rx_merges_buffers_and_waits_for_more)
{
	REQUIRE_EQ(mrg_setup_with_buffers(4, 1000), 0);
	host_send(2500, 1); /* 2512 bytes with the header: 3 buffers */
	virtio_net_poll(&nf.n);
	REQUIRE_EQ(used_idx(0), 3);
	CHECK_EQ(used_elem(0, 0).id, 0);
	CHECK_EQ(used_elem(0, 0).len, 1000);
	CHECK_EQ(used_elem(0, 1).len, 1000);
	CHECK_EQ(used_elem(0, 2).len, 512);
	CHECK_EQ(num_buffers(BUF), 3);
	CHECK_EQ(ram[BUF + 12], 1);
	CHECK_EQ(ram[BUF + 0x2000 + 0], (uint8_t)(1 + 988 * 3));  /* byte 988 of the frame */
	CHECK_EQ(ram[BUF + 0x4000 + 511], (uint8_t)(1 + 2499 * 3));

	/* One buffer left, a frame that needs three: nothing may be used, the tap waits. */
	host_send(2500, 2);
	host_send(100, 3);
	virtio_net_poll(&nf.n);
	CHECK_EQ(used_idx(0), 3);
	CHECK(nf.n.rx_waiting);
	CHECK_EQ(nf.n.stats.rx_dropped, 0);
	/* The driver adds buffers and notifies: both frames arrive, in order. */
	for (unsigned i = 4; i < 8; i++)
		rx_buf(i, 1000);
	notify(&nf.n.vdev, VIRTIO_NET_RXQ);
	REQUIRE_EQ(used_idx(0), 7);
	CHECK_EQ(used_elem(0, 3).id, 3);
	CHECK_EQ(ram[BUF + 0x2000 * 3 + 12], 2);
	CHECK_EQ(used_elem(0, 6).len, 112);
	CHECK_EQ(num_buffers(BUF + 0x2000ull * used_elem(0, 6).id), 1);
	CHECK_EQ(nf.n.stats.rx_frames, 3);
	net_teardown();
}

/* The largest frame (64 KiB) needs 9 of these 8 KiB buffers: more pieces than a readv takes
 * cheaply, so frames go through the bounce buffer (net_rx.c, RX_DIRECT_IOV) and arrive whole,
 * in order, each in as few buffers as it needs. */
TEST(net_rx_many_small_buffers_frames_whole_and_in_order)
{
	REQUIRE_EQ(mrg_setup_with_buffers(12, 0x2000), 0);
	host_send(9000, 5); /* 9012 bytes with the header: 2 buffers */
	host_send(60, 6);
	host_send(0x2000 - 12, 7); /* exactly one buffer */
	virtio_net_poll(&nf.n);
	REQUIRE_EQ(used_idx(0), 4);
	CHECK_EQ(used_elem(0, 0).id, 0);
	CHECK_EQ(used_elem(0, 0).len, 0x2000);
	CHECK_EQ(used_elem(0, 1).len, 9012 - 0x2000);
	CHECK_EQ(used_elem(0, 2).id, 2);
	CHECK_EQ(used_elem(0, 2).len, 72);
	CHECK_EQ(used_elem(0, 3).id, 3);
	CHECK_EQ(used_elem(0, 3).len, 0x2000);
	CHECK_EQ(num_buffers(BUF), 2);
	for (uint32_t i = 0; i < 9000; i += 997) /* frame byte i: chain byte 12 + i */
		CHECK_EQ(ram[BUF + 12 + i], (uint8_t)(5 + i * 3));   /* the buffers are contiguous */
	CHECK_EQ(ram[BUF + 0x2000 * 2 + 12 + 59], (uint8_t)(6 + 59 * 3));
	CHECK_EQ(ram[BUF + 0x2000 * 3 + 0x2000 - 1], (uint8_t)(7 + (0x2000 - 13) * 3));
	CHECK_EQ(nf.n.stats.rx_frames, 3);
	CHECK_EQ(nf.n.stats.rx_dropped, 0);
	net_teardown();
}

TEST(net_rx_without_mrg_one_chain_per_frame)
{
	REQUIRE_EQ(net_setup(0), 0);
	rx_buf(0, 100);   /* too small for the 1000-byte frame: dropped, chain kept */
	notify(&nf.n.vdev, VIRTIO_NET_RXQ);
	host_send(1000, 5);
	virtio_net_poll(&nf.n);
	CHECK_EQ(used_idx(0), 0);
	CHECK_EQ(nf.n.stats.rx_dropped, 1);
	host_send(50, 6);
	virtio_net_poll(&nf.n);
	REQUIRE_EQ(used_idx(0), 1);
	CHECK_EQ(used_elem(0, 0).len, 62);
	CHECK_EQ(num_buffers(BUF), 1);
	net_teardown();
}

TEST(net_rx_returns_unusable_buffers)
{
	REQUIRE_EQ(net_setup(VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), 0);
	set_desc(0, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);      /* smaller than the header */
	publish(0, 0);
	set_desc(0, 1, BUF + 0x2000, 64, 0, 0);             /* device-readable */
	publish(0, 1);
	notify(&nf.n.vdev, VIRTIO_NET_RXQ);
	REQUIRE_EQ(used_idx(0), 2);
	CHECK_EQ(used_elem(0, 0).len, 0);
	CHECK_EQ(used_elem(0, 1).len, 0);
	CHECK_EQ(nf.n.stats.rx_bad_bufs, 2);
	CHECK(!(nf.n.vdev.st.status & VIRTIO_STATUS_NEEDS_RESET));
	net_teardown();
}

TEST(net_tx_frames_and_malformed_chains)
{
	REQUIRE_EQ(net_setup(0), 0);
	/* header and frame in separate descriptors */
	memset(ram + BUF, 0, 12);
	memcpy(ram + BUF + 0x100, "frame-one", 9);
	set_desc(1, 0, BUF, 12, VIRTQ_DESC_F_NEXT, 1);
	set_desc(1, 1, BUF + 0x100, 9, 0, 0);
	publish(1, 0);
	/* shorter than the header */
	set_desc(1, 2, BUF, 6, 0, 0);
	publish(1, 2);
	/* header split 5 + 7, frame after */
	memcpy(ram + BUF + 0x200, "frame-two", 9);
	set_desc(1, 3, BUF, 5, VIRTQ_DESC_F_NEXT, 4);
	set_desc(1, 4, BUF + 5, 7, VIRTQ_DESC_F_NEXT, 5);
	set_desc(1, 5, BUF + 0x200, 9, 0, 0);
	publish(1, 3);
	notify(&nf.n.vdev, VIRTIO_NET_TXQ);
	REQUIRE_EQ(used_idx(1), 3);
	uint8_t f[64];
	CHECK_EQ(recv(nf.peer, f, sizeof(f), 0), 21);
	CHECK(!memcmp(f + 12, "frame-one", 9));
	CHECK_EQ(recv(nf.peer, f, sizeof(f), 0), 21);
	CHECK(!memcmp(f + 12, "frame-two", 9));
	CHECK_EQ(recv(nf.peer, f, sizeof(f), MSG_DONTWAIT), -1);
	CHECK_EQ(nf.n.stats.tx_frames, 2);
	CHECK_EQ(nf.n.stats.tx_malformed, 1);
	net_teardown();
}

TEST(net_reset_drops_held_buffers)
{
	REQUIRE_EQ(net_setup(VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)), 0);
	rx_buf(0, 100);
	notify(&nf.n.vdev, VIRTIO_NET_RXQ);
	host_send(1000, 1);           /* waits in the bounce buffer for more buffers */
	virtio_net_poll(&nf.n);
	CHECK(nf.n.bounce_len > 0 && nf.n.nheld == 1);
	virtio_set_status(&nf.n.vdev, 0);
	CHECK_EQ(nf.n.bounce_len, 0);
	CHECK_EQ(nf.n.nheld, 0);
	CHECK_EQ(nf.n.tap_events, 0);
	/* a frame arriving while the driver is away stays in the tap */
	host_send(10, 1);
	virtio_net_poll(&nf.n);
	CHECK_EQ(used_idx(0), 0);
	net_teardown();
}

/* ======================= virtio-vsock: parser ======================= */

static struct vsock_hdr mkhdr(uint64_t src_cid, uint32_t sport, uint32_t dport, uint16_t op, uint32_t len)
{
	struct vsock_hdr h = { src_cid, VSOCK_HOST_CID, sport, dport, len, VSOCK_TYPE_STREAM, op, 0, 65536, 0 };
	return h;
}

TEST(vsock_parse_split_and_short_headers)
{
	static struct virtq_chain c;
	struct vsock_hdr h = mkhdr(3, 1, 2, VSOCK_OP_RW, 5), got;
	uint8_t raw[64];
	memcpy(raw, &h, 44);
	memcpy(raw + 44, "hello", 5);
	/* header split 1 + 43, payload split 2 + 3 */
	c.n_out = 4;
	c.n_in = 0;
	c.iov[0] = (struct iovec){ raw, 1 };
	c.iov[1] = (struct iovec){ raw + 1, 45 };
	c.iov[2] = (struct iovec){ raw + 46, 3 };
	c.iov[3] = (struct iovec){ raw + 49, 0 };
	c.out_len = 49;
	struct iovec pl[VIRTQ_MAX_CHAIN];
	unsigned n;
	REQUIRE_EQ(virtio_vsock_parse_tx(&c, &got, pl, &n), 0);
	CHECK_EQ(got.op, VSOCK_OP_RW);
	CHECK_EQ(got.len, 5);
	CHECK_EQ(n, 2);
	CHECK_EQ(pl[0].iov_len, 2);
	CHECK(!memcmp(pl[0].iov_base, "he", 2) && !memcmp(pl[1].iov_base, "llo", 3));
	/* len past the payload, and past VSOCK_MAX_PAYLOAD */
	h.len = 6;
	memcpy(raw, &h, 44);
	CHECK_EQ(virtio_vsock_parse_tx(&c, &got, pl, &n), -EMSGSIZE);
	h.len = 0xffffffff;
	memcpy(raw, &h, 44);
	CHECK_EQ(virtio_vsock_parse_tx(&c, &got, pl, &n), -EMSGSIZE);
	/* shorter than a header */
	c.n_out = 1;
	c.iov[0] = (struct iovec){ raw, 43 };
	c.out_len = 43;
	CHECK_EQ(virtio_vsock_parse_tx(&c, &got, pl, &n), -EINVAL);
}

/* ======================= virtio-vsock: the mux ======================= */

static char tmpdir[64];
static struct vsock_mux mux;
static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }
static uint8_t rxbuf[8192];

static int listen_at(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 8) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int connect_to(const char *path)
{
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int mux_setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/petrel-vsock-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -errno;
	char path[128];
	snprintf(path, sizeof(path), "%s/v.sock", tmpdir);
	log_set_level(LOG_OFF);
	int err = vsock_mux_init(&mux, path, 3);
	mux.now_ms = fake_clock;
	fake_now = 1000;
	return err;
}

static void mux_teardown(void)
{
	vsock_mux_destroy(&mux);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* The next packet for the guest (room bytes of payload space), or op INVALID. */
static struct vsock_hdr next_rx(size_t room)
{
	struct vsock_hdr h = { 0 };
	struct iovec iov = { rxbuf, room };
	if (!vsock_mux_rx(&mux, &h, &iov, 1, room))
		h.op = VSOCK_OP_INVALID;
	return h;
}

static void guest_tx(struct vsock_hdr h, const void *data)
{
	struct iovec iov = { (void *)data, h.len };
	vsock_mux_tx(&mux, &h, &iov, 1);
}

static void wait_readable(int fd)
{
	struct pollfd p = { vsock_mux_fd(&mux), POLLIN, 0 };
	(void)fd;
	poll(&p, 1, 1000);
}

TEST(vsock_guest_connects_sends_and_respects_credit)
{
	REQUIRE_EQ(mux_setup(), 0);
	char path[160];
	snprintf(path, sizeof(path), "%s/v.sock_52", tmpdir);
	int l = listen_at(path);
	REQUIRE(l >= 0);
	struct vsock_hdr h = mkhdr(3, 1000, 52, VSOCK_OP_REQUEST, 0);
	h.buf_alloc = 100; /* a tiny window: petrel may send at most 100 bytes unacknowledged */
	guest_tx(h, NULL);
	struct vsock_hdr r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_RESPONSE);
	CHECK_EQ(r.src_cid, VSOCK_HOST_CID);
	CHECK_EQ(r.dst_cid, 3);
	CHECK_EQ(r.src_port, 52);
	CHECK_EQ(r.dst_port, 1000);
	CHECK_EQ(r.buf_alloc, VSOCK_BUF_ALLOC);
	int s = accept(l, NULL, NULL);
	REQUIRE(s >= 0);
	/* guest -> host */
	h = mkhdr(3, 1000, 52, VSOCK_OP_RW, 5);
	h.buf_alloc = 100;
	guest_tx(h, "hello");
	char b[300];
	CHECK_EQ(recv(s, b, sizeof(b), 0), 5);
	CHECK(!memcmp(b, "hello", 5));
	/* host -> guest, 250 bytes: only 100 go before the guest's credit update */
	memset(b, 'x', 250);
	CHECK_EQ(send(s, b, 250, 0), 250);
	wait_readable(s);
	vsock_mux_poll(&mux);
	r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_RW);
	CHECK_EQ(r.len, 100);
	CHECK_EQ(r.fwd_cnt, 5);
	r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_INVALID);
	h = mkhdr(3, 1000, 52, VSOCK_OP_CREDIT_UPDATE, 0);
	h.buf_alloc = 100;
	h.fwd_cnt = 60;
	guest_tx(h, NULL);
	r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_RW);
	CHECK_EQ(r.len, 60);
	/* room limits a packet too */
	h.op = VSOCK_OP_CREDIT_UPDATE;
	h.fwd_cnt = 160;
	guest_tx(h, NULL);
	r = next_rx(30);
	CHECK_EQ(r.len, 30);
	r = next_rx(4096);
	CHECK_EQ(r.len, 60);
	/* CREDIT_REQUEST gets a CREDIT_UPDATE */
	h.op = VSOCK_OP_CREDIT_REQUEST;
	guest_tx(h, NULL);
	r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_CREDIT_UPDATE);
	/* host closes: the guest is told (SHUTDOWN with SEND, and RCV since the peer is gone) */
	close(s);
	wait_readable(s);
	vsock_mux_poll(&mux);
	r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_SHUTDOWN);
	CHECK_EQ(r.flags, VSOCK_SHUTDOWN_SEND | VSOCK_SHUTDOWN_RCV);
	/* the guest RSTs: gone */
	h.op = VSOCK_OP_RST;
	guest_tx(h, NULL);
	CHECK_EQ(mux.nconns, 0);
	close(l);
	mux_teardown();
}

TEST(vsock_refusals_and_bad_packets)
{
	REQUIRE_EQ(mux_setup(), 0);
	/* nobody listens on port 53 */
	guest_tx(mkhdr(3, 1000, 53, VSOCK_OP_REQUEST, 0), NULL);
	struct vsock_hdr r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_RST);
	CHECK_EQ(r.src_port, 53);
	CHECK_EQ(r.dst_port, 1000);
	/* RW / unknown op for no connection: RST; RST for no connection: nothing */
	guest_tx(mkhdr(3, 1001, 53, VSOCK_OP_RW, 3), "abc");
	CHECK_EQ(next_rx(4096).op, VSOCK_OP_RST);
	guest_tx(mkhdr(3, 1002, 53, 77, 0), NULL);
	CHECK_EQ(next_rx(4096).op, VSOCK_OP_RST);
	guest_tx(mkhdr(3, 1003, 53, VSOCK_OP_RST, 0), NULL);
	CHECK_EQ(next_rx(4096).op, VSOCK_OP_INVALID);
	/* spoofed source CID, wrong destination: dropped */
	guest_tx(mkhdr(4, 1004, 53, VSOCK_OP_REQUEST, 0), NULL);
	struct vsock_hdr h = mkhdr(3, 1005, 53, VSOCK_OP_REQUEST, 0);
	h.dst_cid = 1;
	guest_tx(h, NULL);
	CHECK_EQ(next_rx(4096).op, VSOCK_OP_INVALID);
	CHECK_EQ(mux.stats.dropped_cid, 2);
	/* a flood of refusals is bounded (best effort), never unbounded memory */
	for (unsigned i = 0; i < 10 * VSOCK_RST_QUEUE; i++)
		guest_tx(mkhdr(3, 2000 + i, 53, VSOCK_OP_RW, 0), NULL);
	CHECK_EQ(mux.rst_count, VSOCK_RST_QUEUE);
	mux_teardown();
}

TEST(vsock_credit_violation_resets)
{
	REQUIRE_EQ(mux_setup(), 0);
	char path[160];
	snprintf(path, sizeof(path), "%s/v.sock_60", tmpdir);
	int l = listen_at(path);
	REQUIRE(l >= 0);
	guest_tx(mkhdr(3, 1000, 60, VSOCK_OP_REQUEST, 0), NULL);
	CHECK_EQ(next_rx(4096).op, VSOCK_OP_RESPONSE);
	/* the host never reads: the socket buffer fills, then petrel's buffer, then RST */
	static uint8_t chunk[VSOCK_MAX_PAYLOAD];
	unsigned i;
	for (i = 0; i < 200 && mux.nconns; i++) {
		guest_tx(mkhdr(3, 1000, 60, VSOCK_OP_RW, sizeof(chunk)), chunk);
		struct vsock_hdr r = next_rx(4096);
		if (r.op == VSOCK_OP_RST)
			break;
	}
	CHECK(i < 200);
	CHECK_EQ(mux.stats.credit_violations, 1);
	close(l);
	mux_teardown();
}

TEST(vsock_host_connects_with_connect_line)
{
	REQUIRE_EQ(mux_setup(), 0);
	char path[160];
	snprintf(path, sizeof(path), "%s/v.sock", tmpdir);
	int s = connect_to(path);
	REQUIRE(s >= 0);
	/* the line arrives in two pieces, with the first data right behind it */
	CHECK_EQ(send(s, "CONN", 4, 0), 4);
	wait_readable(s);
	vsock_mux_poll(&mux);
	vsock_mux_poll(&mux);
	CHECK_EQ(next_rx(4096).op, VSOCK_OP_INVALID);
	CHECK_EQ(send(s, "ECT 77\nearly", 12, 0), 12);
	wait_readable(s);
	vsock_mux_poll(&mux);
	struct vsock_hdr r = next_rx(4096);
	REQUIRE_EQ(r.op, VSOCK_OP_REQUEST);
	CHECK_EQ(r.dst_port, 77);
	CHECK(r.src_port >= VSOCK_LOCAL_PORT_BASE);
	uint32_t hp = r.src_port;
	struct vsock_hdr h = mkhdr(3, 77, hp, VSOCK_OP_RESPONSE, 0);
	guest_tx(h, NULL);
	char line[32] = { 0 };
	CHECK(recv(s, line, sizeof(line) - 1, 0) > 0);
	char want[32];
	snprintf(want, sizeof(want), "OK %u\n", hp);
	CHECK_STR_EQ(line, want);
	r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_RW);
	CHECK_EQ(r.len, 5);
	CHECK(!memcmp(rxbuf, "early", 5));
	/* guest closes both ways: petrel answers with RST and closes the socket */
	h.op = VSOCK_OP_SHUTDOWN;
	h.flags = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
	guest_tx(h, NULL);
	r = next_rx(4096);
	CHECK_EQ(r.op, VSOCK_OP_RST);
	CHECK_EQ(recv(s, line, sizeof(line), 0), 0);
	CHECK_EQ(mux.nconns, 0);
	close(s);
	mux_teardown();
}

TEST(vsock_host_connect_errors_and_timeouts)
{
	REQUIRE_EQ(mux_setup(), 0);
	char path[160], b[16];
	snprintf(path, sizeof(path), "%s/v.sock", tmpdir);
	/* not a CONNECT line: closed */
	int s = connect_to(path);
	REQUIRE(s >= 0);
	CHECK_EQ(send(s, "HELLO 5\n", 8, 0), 8);
	wait_readable(s);
	vsock_mux_poll(&mux);
	vsock_mux_poll(&mux);
	CHECK_EQ(recv(s, b, sizeof(b), 0), 0);
	close(s);
	/* a port out of range: closed */
	s = connect_to(path);
	CHECK_EQ(send(s, "CONNECT 4294967296\n", 19, 0), 19);
	wait_readable(s);
	vsock_mux_poll(&mux);
	vsock_mux_poll(&mux);
	CHECK_EQ(recv(s, b, sizeof(b), 0), 0);
	close(s);
	/* the guest refuses (RST): closed without OK */
	s = connect_to(path);
	CHECK_EQ(send(s, "CONNECT 80\n", 11, 0), 11);
	wait_readable(s);
	vsock_mux_poll(&mux);
	vsock_mux_poll(&mux);
	struct vsock_hdr r = next_rx(4096);
	REQUIRE_EQ(r.op, VSOCK_OP_REQUEST);
	guest_tx(mkhdr(3, 80, r.src_port, VSOCK_OP_RST, 0), NULL);
	CHECK_EQ(recv(s, b, sizeof(b), 0), 0);
	close(s);
	/* no answer within the timeout: closed, and the guest gets a RST */
	s = connect_to(path);
	CHECK_EQ(send(s, "CONNECT 81\n", 11, 0), 11);
	wait_readable(s);
	vsock_mux_poll(&mux);
	vsock_mux_poll(&mux);
	r = next_rx(4096);
	REQUIRE_EQ(r.op, VSOCK_OP_REQUEST);
	fake_now += VSOCK_CONNECT_TIMEOUT_MS + 1;
	usleep(150 * 1000); /* a timer tick */
	vsock_mux_poll(&mux);
	CHECK_EQ(next_rx(4096).op, VSOCK_OP_RST);
	CHECK_EQ(recv(s, b, sizeof(b), 0), 0);
	close(s);
	CHECK_EQ(mux.nconns, 0);
	mux_teardown();
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
