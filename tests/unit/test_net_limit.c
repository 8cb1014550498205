/* virtio-net's rate limiters without KVM: the device over a datagram socket pair (the "tap"),
 * guest memory a heap buffer, rings written by the test as a driver would. A direction past
 * its bucket stops (transmit chains stay in the ring, received frames in the tap) until the
 * limiter's timer fires, and PATCH-style updates take effect at once. Firecracker's net device
 * tests check the same (src/vmm/src/devices/virtio/net/device.rs test_rx_rate_limiter_handling,
 * test_tx_rate_limiter_handling). */
#include "unit.h"
#include "fake_ring.h"
#include "net_sockpair.h"

#include "vm/device_params.h"
#include "devices/virtio/net/net.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define TXBUF 0x10000
#define RXBUF 0x40000

struct fixture {
	struct virtio_net n;
	int peer;
	unsigned tx_next, rx_next;
};

static struct token_bucket_config per_second(uint64_t ops)
{
	return (struct token_bucket_config){ .present = true, .size = ops, .refill_time = 1000 };
}

static int setup(struct fixture *f, const struct rate_limiter_config *rx, const struct rate_limiter_config *tx)
{
	mem_setup();
	memset(f, 0, sizeof(*f));
	return net_on_socketpair(&f->n, &f->peer, rx, tx, 0, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
}

static void teardown(struct fixture *f)
{
	virtio_dev_destroy(&f->n.vdev);
	close(f->peer);
}

/* The guest queues a 60-byte frame (vnet header in its own descriptor). */
static void guest_tx(struct fixture *f)
{
	unsigned i = (f->tx_next * 2) % QS;
	uint64_t a = TXBUF + 0x1000ull * (f->tx_next % 8);
	memset(ram + a, 0, 12);
	memset(ram + a + 0x100, (int)f->tx_next, 60);
	set_desc(1, i, a, 12, VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
	set_desc(1, i + 1, a + 0x100, 60, 0, 0);
	publish(1, (uint16_t)i);
	f->tx_next++;
	notify(&f->n.vdev, VIRTIO_NET_TXQ);
}

static unsigned tap_frames(struct fixture *f)
{
	uint8_t b[2048];
	unsigned n = 0;
	while (recv(f->peer, b, sizeof(b), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* A PATCH wakes the waiting direction by arming its timer for "now" (1 ns); the kernel's
 * timer interrupt makes it readable a moment later, which on a slow host (nested KVM) comes
 * after the next line of the test: wait for it as the I/O thread's epoll would. */
static void wait_timer(const struct rate_limiter *rl)
{
	struct pollfd pf = { .fd = rl->timer_fd, .events = POLLIN };
	CHECK_EQ(poll(&pf, 1, 5000), 1);
}

TEST(tx_rate_limiter_holds_frames_in_the_ring)
{
	struct fixture f;
	struct rate_limiter_config tx = { .present = true, .ops = per_second(2) };
	REQUIRE_EQ(setup(&f, NULL, &tx), 0);
	for (int i = 0; i < 5; i++)
		guest_tx(&f);
	CHECK_EQ(tap_frames(&f), 2);             /* the bucket held two frames */
	CHECK_EQ(used_idx(1), 2);                /* the others wait in the ring */
	CHECK(f.n.tx_rl.blocked);
	CHECK_EQ(f.n.tx_rl.throttled, 1);
	usleep(600 * 1000);                      /* one frame's worth (two per second) */
	virtio_net_poll(&f.n);                   /* the timer fired: what the I/O thread does */
	CHECK_EQ(tap_frames(&f), 1);
	CHECK_EQ(used_idx(1), 3);
	/* PATCH turning the limits off (Firecracker: buckets of size 0): the waiting direction
	 * goes on at once */
	struct rate_limiter_config none = { .present = true, .bandwidth = { .present = true }, .ops = { .present = true } };
	REQUIRE_EQ(virtio_net_set_rate_limiters(&f.n, NULL, &none), 0);
	wait_timer(&f.n.tx_rl);
	virtio_net_poll(&f.n);
	CHECK_EQ(tap_frames(&f), 2);
	CHECK_EQ(used_idx(1), 5);
	CHECK_EQ(f.n.stats.tx_frames, 5);
	teardown(&f);
}

TEST(rx_rate_limiter_leaves_frames_in_the_tap)
{
	struct fixture f;
	struct rate_limiter_config rx = { .present = true, .ops = per_second(1),
					  .bandwidth = { .present = true, .size = 1 << 20, .refill_time = 1000 } };
	REQUIRE_EQ(setup(&f, &rx, NULL), 0);
	uint8_t frame[12 + 60] = { 0 };
	for (int i = 0; i < 3; i++) {
		frame[12] = (uint8_t)i;
		REQUIRE_EQ(send(f.peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	}
	for (unsigned k = 0; k < 8; k++) {
		unsigned i = f.rx_next++ % QS;
		set_desc(0, i, RXBUF + 0x1000ull * i, 0x1000, VIRTQ_DESC_F_WRITE, 0);
		publish(0, (uint16_t)i);
	}
	notify(&f.n.vdev, VIRTIO_NET_RXQ);
	CHECK_EQ(used_idx(0), 1);                /* one frame paid for */
	CHECK(f.n.rx_rl.blocked);
	CHECK(f.n.bounce_len > 0);               /* the next waits, read but not delivered */
	virtio_net_poll(&f.n);                   /* nothing new before the timer */
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(f.n.stats.rx_bytes, 60);
	/* a new limit (here: a bigger bucket) applies at once; the waiting frame is not charged twice */
	struct rate_limiter_config more = { .present = true, .ops = per_second(100) };
	REQUIRE_EQ(virtio_net_set_rate_limiters(&f.n, &more, NULL), 0);
	wait_timer(&f.n.rx_rl);
	virtio_net_poll(&f.n);
	CHECK_EQ(used_idx(0), 3);
	CHECK(!f.n.rx_rl.blocked);
	CHECK_EQ(f.n.stats.rx_frames, 3);
	teardown(&f);
}

TEST(no_rate_limiter_no_waiting)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, NULL, NULL), 0);
	for (int i = 0; i < 6; i++)
		guest_tx(&f);
	CHECK_EQ(tap_frames(&f), 6);
	CHECK(!rate_limiter_active(&f.n.tx_rl) && !rate_limiter_active(&f.n.rx_rl));
	teardown(&f);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
