/* virtio-net's transmit batches (src/devices/virtio/net/net_tx_batch.c) without KVM: the device
 * over a Unix datagram socket pair (the "tap": one datagram = one frame with its vnet header,
 * refusing writes with EAGAIN when the peer's queue is full, as a full tap does), guest memory
 * a heap buffer, the rings written by the test as a driver would. The frames of one wakeup go
 * out with one io_uring submission, in order, every chain used only after its write; a frame
 * the kernel refuses is dropped without reordering the others; a full tap and the rate limiter
 * stop a batch exactly where one writev per frame would have stopped. */
#include "unit.h"
#include "fake_ring.h"
#include "net_sockpair.h"

#include "vm/device_params.h"
#include "devices/virtio/net/net.h"
#include "devices/virtio/net/net_int.h"
#include "memory/guest_mem.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define TXBUF 0x10000   /* frame i's buffer at TXBUF + 0x1000 i (the big one from 0x20000) */
#define BIG 0x20000
#define BIG_LEN 60000   /* more than the socket's send buffer: EMSGSIZE, refused for good */

struct fixture {
	struct virtio_net n;
	int peer;
	unsigned next;
};

static void queue_frame(struct fixture *f, uint8_t tag, bool big);
static unsigned peer_frames(struct fixture *f, uint8_t *tags, unsigned max);

/* nowait false: the writes as on Linux 6.1, whose tap does not take RWF_NOWAIT (a full tap
 * is then seen as a write still in flight, and cancelled); true: with it, where the kernel
 * takes it (the first frame tells). */
static int setup(struct fixture *f, const struct rate_limiter_config *tx, bool nowait)
{
	mem_setup();
	memset(f, 0, sizeof(*f));
	/* a send buffer of 4096 (the kernel doubles it): small frames fit, BIG_LEN does not */
	int err = net_on_socketpair(&f->n, &f->peer, NULL, tx, 4096, 0);
	if (err < 0)
		return err;
	if (!f->n.txb)
		return -ENOTSUP;   /* io_uring here: the kernel and liburing of the build host */
	virtio_net_tx_nowait(&f->n, nowait);
	/* One frame first: a tap without RWF_NOWAIT costs the first batch one more submission
	 * (test_net_tx_batch counts those after it). */
	queue_frame(f, 0xaa, false);
	notify(&f->n.vdev, VIRTIO_NET_TXQ);
	uint8_t tag;
	if (peer_frames(f, &tag, 1) != 1 || used_idx(1) != 1)
		return -EIO;
	f->n.stats.tx_submits = f->n.stats.tx_frames = f->n.stats.tx_bytes = 0;
	return 0;
}

static void teardown(struct fixture *f)
{
	virtio_dev_destroy(&f->n.vdev);
	close(f->peer);
}

/* The guest queues in descriptor i a frame of len bytes (vnet header included) at a, filled
 * with tag, without notifying. */
static void queue_at(unsigned i, uint8_t tag, uint64_t a, uint32_t len)
{
	memset(ram + a, 0, 12);
	memset(ram + a + 12, tag, len - 12);
	set_desc(1, i, a, len, 0, 0);
	publish(1, (uint16_t)i);
}

/* The guest queues frame number `tag` (vnet header and 60 bytes in one descriptor, or a
 * BIG_LEN one), without notifying. */
static void queue_frame(struct fixture *f, uint8_t tag, bool big)
{
	unsigned i = f->next++ % QS;
	queue_at(i, tag, big ? BIG : TXBUF + 0x1000ull * i, 12 + (big ? BIG_LEN : 60));
}

/* The tags of the frames the peer has, in order; their count. */
static unsigned peer_frames(struct fixture *f, uint8_t *tags, unsigned max)
{
	uint8_t b[2048];
	unsigned n = 0;
	ssize_t r;
	while ((r = recv(f->peer, b, sizeof(b), MSG_DONTWAIT)) > 0)
		if (n < max)
			tags[n++] = r > 12 ? b[12] : 0xff;
	return n;
}

/* Fill the peer's queue with the device's own descriptor, then make room for `room` frames
 * (a datagram socket takes max_dgram_qlen + 1 of them). */
static unsigned leave_room(struct fixture *f, unsigned room)
{
	uint8_t filler[12 + 60] = { 0 };
	filler[12] = 0xee;
	unsigned n = 0;
	while (write(f->n.tap.fd, filler, sizeof(filler)) > 0)
		n++;
	uint8_t b[2048];
	for (unsigned i = 0; i < room; i++)
		recv(f->peer, b, sizeof(b), 0);
	return n - room;   /* fillers still queued */
}

static void drop_fillers(struct fixture *f, unsigned k)
{
	uint8_t b[2048];
	for (unsigned i = 0; i < k; i++)
		CHECK_EQ(recv(f->peer, b, sizeof(b), MSG_DONTWAIT), 72);
}

static void tx_batch_one_submission_in_order(bool nowait)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, NULL, nowait), 0);
	for (unsigned i = 0; i < 8; i++)
		queue_frame(&f, (uint8_t)i, false);
	notify(&f.n.vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(f.n.stats.tx_submits, 1);      /* eight frames, one io_uring_enter */
	CHECK_EQ(used_idx(1), 1 + 8);
	uint8_t tags[16];
	REQUIRE_EQ(peer_frames(&f, tags, 16), 8);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(tags[i], i);
	for (unsigned i = 0; i < 8; i++)
		CHECK_EQ(used_elem(1, 1 + i).id, 1 + i);
	CHECK_EQ(f.n.stats.tx_frames, 8);
	CHECK_EQ(f.n.stats.tx_bytes, 8 * 60);
	teardown(&f);
}

static void tx_batch_drops_a_refused_frame_and_sends_the_rest_in_order(bool nowait)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, NULL, nowait), 0);
	queue_frame(&f, 0, false);
	queue_frame(&f, 1, false);
	queue_frame(&f, 2, true);    /* EMSGSIZE: dropped, as a tap drops a bad vnet header */
	queue_frame(&f, 3, false);
	queue_frame(&f, 4, false);
	notify(&f.n.vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(used_idx(1), 1 + 5);
	uint8_t tags[8];
	REQUIRE_EQ(peer_frames(&f, tags, 8), 4);
	CHECK_EQ(tags[0], 0);
	CHECK_EQ(tags[1], 1);
	CHECK_EQ(tags[2], 3);
	CHECK_EQ(tags[3], 4);
	CHECK_EQ(f.n.stats.tx_errors, 1);
	CHECK_EQ(f.n.stats.tx_frames, 4);
	/* unlinked (RWF_NOWAIT), the writes after the refused one went in the same submission;
	 * linked, they were cancelled and submitted again */
	CHECK_EQ(f.n.stats.tx_submits, nowait ? 1 : 2);
	CHECK(!f.n.tx_waiting);
	teardown(&f);
}

static void tx_batch_full_tap_gives_back_the_rest_in_order(bool nowait)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, NULL, nowait), 0);
	unsigned fillers = leave_room(&f, 2);
	for (unsigned i = 0; i < 6; i++)
		queue_frame(&f, (uint8_t)i, false);
	notify(&f.n.vdev, VIRTIO_NET_TXQ);
	/* without RWF_NOWAIT: frame 2 stayed in flight, was cancelled, and again */
	CHECK_EQ(f.n.stats.tx_submits, virtio_net_tx_nowait(&f.n, true) ? 1 : 2);
	CHECK_EQ(used_idx(1), 1 + 2);           /* two written, four back in the ring */
	CHECK(f.n.tx_waiting);
	CHECK_EQ(f.n.stats.tx_blocked, 1);
	CHECK_EQ(f.n.stats.tx_frames, 2);
	/* The peer reads: the tap is writable, the rest go out after the first two. */
	drop_fillers(&f, fillers);
	uint8_t tags[16];
	REQUIRE_EQ(peer_frames(&f, tags, 16), 2);
	virtio_net_poll(&f.n);
	CHECK_EQ(used_idx(1), 1 + 6);
	CHECK(!f.n.tx_waiting);
	REQUIRE_EQ(peer_frames(&f, tags + 2, 14), 4);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(tags[i], i);
	CHECK_EQ(f.n.stats.tx_frames, 6);
	teardown(&f);
}

static void tx_batch_stops_at_the_rate_limiter(bool nowait)
{
	struct fixture f;
	struct rate_limiter_config tx = { .present = true,
					  .ops = { .present = true, .size = 4, .refill_time = 1000 } };
	REQUIRE_EQ(setup(&f, &tx, nowait), 0);
	for (unsigned i = 0; i < 6; i++)
		queue_frame(&f, (uint8_t)i, false);
	notify(&f.n.vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(f.n.stats.tx_submits, 1);      /* the three the bucket still held, together */
	CHECK_EQ(used_idx(1), 1 + 3);
	CHECK(f.n.tx_rl.blocked);
	uint8_t tags[8];
	REQUIRE_EQ(peer_frames(&f, tags, 8), 3);
	for (unsigned i = 0; i < 3; i++)
		CHECK_EQ(tags[i], i);
	teardown(&f);
}

/* A full tap in a limited batch: the frames after the refused one were admitted (charged)
 * when they joined the batch; they go back to the ring uncharged, as if never looked at. With
 * one writev a frame, frame 2's refusal came before frames 3 and 4 were charged: 2, 3, 4 then
 * pay when sent (frame 2 twice), 3 + 3 = 6 tokens. Charged for all five at first, the bucket
 * of six (seven: setup's frame takes one) would stop frame 4. */
static void tx_batch_full_tap_does_not_charge_the_limiter_for_unsent_frames(bool nowait)
{
	struct fixture f;
	struct rate_limiter_config tx = { .present = true,
					  .ops = { .present = true, .size = 7, .refill_time = 100000 } };
	REQUIRE_EQ(setup(&f, &tx, nowait), 0);
	unsigned fillers = leave_room(&f, 2);
	for (unsigned i = 0; i < 5; i++)
		queue_frame(&f, (uint8_t)i, false);
	notify(&f.n.vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(used_idx(1), 1 + 2);
	CHECK(f.n.tx_waiting);
	CHECK(!f.n.tx_rl.blocked);
	drop_fillers(&f, fillers);
	virtio_net_poll(&f.n);
	CHECK_EQ(used_idx(1), 1 + 5);
	CHECK(!f.n.tx_rl.blocked);
	uint8_t tags[8];
	REQUIRE_EQ(peer_frames(&f, tags, 8), 5);
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(tags[i], i);
	teardown(&f);
}

/* A kernel before 5.11 (no IORING_FEAT_EXT_ARG: Debian 11's 5.10) has liburing take the
 * completions whose user_data is its own timeout tag, UINT64_MAX, inside io_uring_peek_cqe and
 * io_uring_wait_cqe: the cancellation of a write in flight must not carry that tag, or the
 * device waits for its completion for ever (the I/O thread, with the device lock held). The
 * ring is made to look as such a kernel's, the writes go without RWF_NOWAIT (5.10's tap does
 * not take it either) and the full tap's write in flight is cancelled; a hang is killed by
 * the alarm and fails the test. */
static void tx_batch_cancel_as_before_linux_5_11(void)
{
	struct fixture f;
	REQUIRE_EQ(setup(&f, NULL, false), 0);
	struct io_uring *ring = net_txb_ring(&f.n);
	REQUIRE(ring != NULL);
	ring->features &= ~IORING_FEAT_EXT_ARG;
	unsigned fillers = leave_room(&f, 2);
	for (unsigned i = 0; i < 6; i++)
		queue_frame(&f, (uint8_t)i, false);
	alarm(20);
	notify(&f.n.vdev, VIRTIO_NET_TXQ);
	alarm(0);
	CHECK_EQ(f.n.stats.tx_submits, 2);      /* frame 2 in flight, cancelled, and again */
	CHECK_EQ(used_idx(1), 1 + 2);
	CHECK(f.n.tx_waiting);
	drop_fillers(&f, fillers);
	uint8_t tags[16];
	REQUIRE_EQ(peer_frames(&f, tags, 16), 2);
	alarm(20);
	virtio_net_poll(&f.n);
	alarm(0);
	CHECK_EQ(used_idx(1), 1 + 6);
	REQUIRE_EQ(peer_frames(&f, tags + 2, 14), 4);
	for (unsigned i = 0; i < 6; i++)
		CHECK_EQ(tags[i], i);
	teardown(&f);
}

/* A pipe for the tap: a write of up to PIPE_BUF bytes goes in whole or is refused (EAGAIN),
 * so a frame too big for the room left is refused while a smaller one after it is taken, as
 * a tap whose send buffer fills may do. In the unlinked batch where that first happens, the
 * refused frame with a later one taken is dropped rather than sent after it; one with none
 * taken after it goes back to the ring, and the writes are linked from then on. */
TEST(tx_batch_first_refusal_drops_only_what_would_go_out_of_order)
{
	mem_setup();
	static struct virtio_net n;
	memset(&n, 0, sizeof(n));
	int p[2];
	REQUIRE_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	REQUIRE_EQ(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096); /* one page */
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = "pipe" };
	REQUIRE_EQ(virtio_net_create_fd(&n, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, p[1], &mem,
					NULL), 0);
	start(&n.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1), 2);
	/* Unlinked batches need RWF_NOWAIT, which a pipe takes on Linux 5.8 and later. */
	uint8_t one = 0;
	struct iovec io = { &one, 1 };
	bool pipe_nowait = pwritev2(p[1], &io, 1, -1, RWF_NOWAIT) == 1 && read(p[0], &one, 1) == 1;
	if (!n.txb || !pipe_nowait) {
		printf("  (no io_uring or no RWF_NOWAIT on pipes here: nothing to test)\n");
		virtio_dev_destroy(&n.vdev);
		close(p[0]);
		return;
	}
	static uint8_t filler[3800];
	REQUIRE_EQ(write(p[1], filler, sizeof(filler)), (ssize_t)sizeof(filler)); /* 296 bytes left */
	queue_at(0, 'A', TXBUF, 72);
	queue_at(1, 'B', TXBUF + 0x1000, 3012);   /* refused; C, after it, is taken: dropped */
	queue_at(2, 'C', TXBUF + 0x2000, 72);
	queue_at(3, 'D', TXBUF + 0x3000, 3012);   /* refused, nothing taken after it: back */
	notify(&n.vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(n.stats.tx_submits, 1);
	CHECK_EQ(used_idx(1), 3);
	CHECK(n.tx_waiting);
	CHECK_EQ(n.stats.tx_errors, 1);
	CHECK_EQ(n.stats.tx_frames, 2);
	static uint8_t got[8192];
	REQUIRE_EQ(read(p[0], got, sizeof(got)), 3800 + 72 + 72);
	CHECK(got[3800 + 12] == 'A' && got[3800 + 72 + 12] == 'C');
	/* Room again: D goes, linked now (a batch of one here). */
	virtio_net_poll(&n);
	CHECK_EQ(used_idx(1), 4);
	CHECK(!n.tx_waiting);
	CHECK_EQ(read(p[0], got, sizeof(got)), 3012);
	CHECK_EQ(got[12], 'D');
	CHECK_EQ(n.stats.tx_frames, 3);
	/* Linked now: a refused frame takes the one after it back with it, though that one would
	 * fit (unlinked, E would have been dropped and F written). */
	REQUIRE_EQ(write(p[1], filler, sizeof(filler)), (ssize_t)sizeof(filler));
	queue_at(4, 'E', TXBUF + 0x4000, 3012);
	queue_at(5, 'F', TXBUF + 0x5000, 72);
	notify(&n.vdev, VIRTIO_NET_TXQ);
	CHECK_EQ(used_idx(1), 4);
	CHECK(n.tx_waiting);
	CHECK_EQ(n.stats.tx_errors, 1);
	REQUIRE_EQ(read(p[0], got, sizeof(got)), 3800);
	virtio_net_poll(&n);
	CHECK_EQ(used_idx(1), 6);
	CHECK_EQ(read(p[0], got, sizeof(got)), 3012 + 72);
	CHECK(got[12] == 'E' && got[3012 + 12] == 'F');
	CHECK_EQ(n.stats.tx_frames, 5);
	virtio_dev_destroy(&n.vdev);
	close(p[0]);
}

TEST(tx_batch_cancel_as_before_linux_5_11)
{
	tx_batch_cancel_as_before_linux_5_11();
}

TEST(tx_batch_one_submission_in_order)
{
	tx_batch_one_submission_in_order(true);
	tx_batch_one_submission_in_order(false);
}

TEST(tx_batch_drops_a_refused_frame_and_sends_the_rest_in_order)
{
	tx_batch_drops_a_refused_frame_and_sends_the_rest_in_order(true);
	tx_batch_drops_a_refused_frame_and_sends_the_rest_in_order(false);
}

TEST(tx_batch_full_tap_gives_back_the_rest_in_order)
{
	tx_batch_full_tap_gives_back_the_rest_in_order(true);
	tx_batch_full_tap_gives_back_the_rest_in_order(false);
}

TEST(tx_batch_stops_at_the_rate_limiter)
{
	tx_batch_stops_at_the_rate_limiter(true);
	tx_batch_stops_at_the_rate_limiter(false);
}

TEST(tx_batch_full_tap_does_not_charge_the_limiter_for_unsent_frames)
{
	tx_batch_full_tap_does_not_charge_the_limiter_for_unsent_frames(true);
	tx_batch_full_tap_does_not_charge_the_limiter_for_unsent_frames(false);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
