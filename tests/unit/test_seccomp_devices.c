/* The device data paths under the seccomp filters petrel really installs: each scenario runs
 * in a forked child that calls seccomp_start() (the built-in programs, compiled at build
 * time) and then does each step on a thread of the kind that does it in a running VM — the
 * driver's register writes (activation) on a vCPU thread, queue work on the I/O thread, a
 * pause's quiesce on the VMM thread, replication's epochs on its thread. A system call missing
 * from a kind's list kills the child with SIGSYS and the log names it; so this catches, without
 * KVM, a list that would kill every guest test on a KVM host. Setting the devices up happens
 * before seccomp_start, as the VM is built before its threads run (the build lists are wide).
 *
 * Covered: virtio-blk on a raw image and on a qcow2 overlay (io_uring reads and writes, flush,
 * first-write allocation with copy from the base, discard), virtio-net (receive, transmit
 * through a rate limiter's timer, the control queue), the vsock mux (guest connecting to a
 * host socket, data both ways, the output gate and its release), and the time (a vCPU's and
 * the I/O thread's first log lines, the RTC read and set). */
#include "unit.h"

#define MEM_SIZE (2u << 20)
#define DISK (1u << 20)
#include "fake_ring.h"
#include "fake_blk.h"
#include "sc_steps.h"

#include "vm/device_params.h"
#include "block/qcow2.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/net/net.h"
#include "vsock/vsock_mux.h"
#include "seccomp/seccomp.h"
#include "util/thread.h"
#include "devices/legacy/rtc.h"
#include "rtc_io.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- virtio-blk ---- */

static struct virtio_blk blk;

static void blk_activate(void) /* vCPU: the driver's status writes */
{
	start(&blk.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 1);
	if (!virtio_is_running(&blk.vdev))
		fail(20);
}

static void blk_requests(void) /* I/O thread: a notification's worth of requests */
{
	memset(ram + DATA + 0x10000, 0x5a, 8192);
	queue_req(0, VIRTIO_BLK_T_IN, 8, 4096);
	queue_req(1, VIRTIO_BLK_T_OUT, 64, 8192);   /* a first write: allocation on qcow2 */
	queue_req(2, VIRTIO_BLK_T_FLUSH, 0, 0);
	notify(&blk.vdev, 0);
}

static void blk_reread(void) /* after the write completed: requests in one batch are unordered */
{
	queue_req(3, VIRTIO_BLK_T_IN, 64, 4096);
	notify(&blk.vdev, 0);
}

static void blk_quiesce(void) /* VMM thread: a pause waits for what is in flight */
{
	pthread_mutex_lock(&blk.vdev.lock);
	blk.vdev.ops->quiesce(&blk.vdev);
	pthread_mutex_unlock(&blk.vdev.lock);
}

static void blk_check(void)
{
	for (unsigned i = 0; i < 4; i++)
		if (ram[STATUS + i] != VIRTIO_BLK_S_OK)
			fail(21 + (int)i);
	if (ram[DATA] != 8 || ram[DATA + 0x30000] != 0x5a)
		fail(25);
}

static void blk_scenario(const char *path, int format)
{
	mem_setup();
	struct drive_config cfg = { .drive_id = "t", .path_on_host = (char *)path, .format = format,
				    .io_engine = DRIVE_IO_ASYNC, .cache_type = DRIVE_CACHE_WRITEBACK };
	REQUIRE_EQ(virtio_blk_create(&blk, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, NULL), 0);
	const struct step steps[] = {
		{ SC_VCPU, "fc_vcpu 0", blk_activate },
		{ SC_IO, "fc_io", blk_requests },
		{ SC_VMM, "fc_vmm", blk_quiesce },
		{ SC_IO, "fc_io", blk_reread },
		{ SC_VMM, "fc_vmm", blk_quiesce },
		{ SC_IO, "fc_io", blk_check },
	};
	CHECK_STEPS_CLEAN(steps);
	virtio_dev_destroy(&blk.vdev);
}

TEST(blk_raw_under_filters)
{
	blk_scenario(raw_image("r.raw", 0), DISK_FORMAT_RAW);
}

TEST(blk_qcow2_overlay_under_filters)
{
	const char *base = raw_image("base.raw", 0), *top = file("top.qcow2");
	char err[256];
	struct qcow2_create_opts o = { .backing = base, .backing_format = "raw" };
	REQUIRE_EQ(qcow2_create(top, &o, err, sizeof(err)), 0);
	blk_scenario(top, DISK_FORMAT_QCOW2);
}

/* ---- virtio-net ---- */

static struct virtio_net net;
static int net_peer;

static void net_activate(void)
{
	start(&net.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) |
				 VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_ANNOUNCE),
	      VIRTIO_NET_NQUEUES);
	if (!virtio_is_running(&net.vdev))
		fail(30);
}

static void net_traffic(void)
{
	for (unsigned i = 0; i < 4; i++) {
		set_desc(VIRTIO_NET_RXQ, i, DATA + 0x2000ull * i, 2000, VIRTQ_DESC_F_WRITE, 0);
		publish(VIRTIO_NET_RXQ, (uint16_t)i);
	}
	notify(&net.vdev, VIRTIO_NET_RXQ);
	virtio_net_poll(&net);
	/* three frames to the "tap", the last waits for the limiter's timer */
	for (unsigned i = 0; i < 3; i++) {
		memset(ram + DATA + 0x10000 + 0x1000 * i, 0, 12);
		set_desc(VIRTIO_NET_TXQ, i, DATA + 0x10000 + 0x1000ull * i, 12 + 600, 0, 0);
		publish(VIRTIO_NET_TXQ, (uint16_t)i);
	}
	notify(&net.vdev, VIRTIO_NET_TXQ);
	for (int k = 0; k < 200 && used_idx(VIRTIO_NET_TXQ) < 3; k++) {
		usleep(2000);
		virtio_net_poll(&net);   /* the timer fd fires through the device's epoll set */
	}
	if (used_idx(VIRTIO_NET_RXQ) < 1)
		fail(31);
	if (used_idx(VIRTIO_NET_TXQ) != 3)
		fail(32);
	/* the control queue: an announcement's acknowledgement */
	ram[DATA + 0x18000] = VIRTIO_NET_CTRL_ANNOUNCE;
	ram[DATA + 0x18001] = VIRTIO_NET_CTRL_ANNOUNCE_ACK;
	set_desc(VIRTIO_NET_CTRLQ, 0, DATA + 0x18000, 2, VIRTQ_DESC_F_NEXT, 1);
	set_desc(VIRTIO_NET_CTRLQ, 1, DATA + 0x18100, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(VIRTIO_NET_CTRLQ, 0);
	notify(&net.vdev, VIRTIO_NET_CTRLQ);
	if (used_idx(VIRTIO_NET_CTRLQ) != 1)
		fail(33);
}

static void net_announce(void) /* the migration or replication thread after the switch */
{
	if (!virtio_net_request_announce(&net))
		fail(34);
}

TEST(net_under_filters)
{
	mem_setup();
	int sv[2];
	REQUIRE_EQ(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv), 0);
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = "sp", .has_mac = true,
				  .guest_mac = { 2, 0, 0, 0, 0, 7 } };
	cfg.tx_rate_limiter = (struct rate_limiter_config){
		.present = true, .bandwidth = { .present = true, .size = 1300, .refill_time = 5 } };
	REQUIRE_EQ(virtio_net_create_fd(&net, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, sv[0], &mem, NULL), 0);
	net_peer = sv[1];
	static uint8_t frame[512];
	memset(frame, 0, sizeof(frame));
	CHECK_EQ(send(net_peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	const struct step steps[] = {
		{ SC_VCPU, "fc_vcpu 0", net_activate },
		{ SC_IO, "fc_io", net_traffic },
		{ SC_MIGRATION, "petrel_mig", net_announce },
	};
	CHECK_STEPS_CLEAN(steps);
	virtio_dev_destroy(&net.vdev);
	close(net_peer);
}

/* A real tap (root with /dev/net/tun only): the driver's activation reads the tap's MTU and sets
 * its offloads on a vCPU thread, whose filter makes no sockets. */
TEST(net_tap_activates_under_vcpu_filter)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("  (not root or no /dev/net/tun: nothing to check)\n");
		return;
	}
	mem_setup();
	char name[16];
	snprintf(name, sizeof(name), "ptsc%d", (int)(getpid() % 100000));
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = name, .has_mac = true,
				  .guest_mac = { 2, 0, 0, 0, 0, 8 } };
	REQUIRE_EQ(virtio_net_create(&net, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, &mem, NULL), 0);
	const struct step steps[] = { { SC_VCPU, "fc_vcpu 0", net_activate } };
	CHECK_STEPS_CLEAN(steps);
	virtio_dev_destroy(&net.vdev);
}

/* ---- the vsock mux ---- */

static struct vsock_mux mux;
static int vsock_listener;

static struct vsock_hdr vhdr(uint16_t op, uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = 3, .dst_cid = VSOCK_HOST_CID, .src_port = 5000, .dst_port = 1234,
				   .len = len, .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 1 << 20 };
}

static void vsock_guest_connects(void) /* I/O thread: connect(2) to <uds>_1234 */
{
	struct vsock_hdr h = vhdr(VSOCK_OP_REQUEST, 0);
	vsock_mux_tx(&mux, &h, NULL, 0);
	struct vsock_hdr r;
	uint8_t room[64];
	struct iovec iov = { room, sizeof(room) };
	if (vsock_mux_rx(&mux, &r, &iov, 1, sizeof(room)) != 1 || r.op != VSOCK_OP_RESPONSE)
		fail(40);
}

static void vsock_gate_up(void) /* replication: the output gate goes up at its first checkpoint */
{
	vsock_mux_gate(&mux, true);
}

static void vsock_data(void) /* I/O thread: data both ways, host events */
{
	int peer = accept4(vsock_listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (peer < 0)
		fail(41);
	struct vsock_hdr h = vhdr(VSOCK_OP_RW, 5);
	struct iovec iov = { (void *)"hello", 5 };
	vsock_mux_tx(&mux, &h, &iov, 1);
	if (send(peer, "back", 4, MSG_NOSIGNAL) != 4)
		fail(42);
	usleep(1000);
	vsock_mux_poll(&mux);
	struct vsock_hdr r;
	uint8_t room[256];
	struct iovec riov = { room, sizeof(room) };
	bool got = false;
	while (vsock_mux_rx(&mux, &r, &riov, 1, sizeof(room)) == 1)
		got |= r.op == VSOCK_OP_RW;
	if (!got)
		fail(43);
	close(peer);
}

static void vsock_epochs(void) /* replication: a checkpoint, its acknowledgement, the end */
{
	vsock_mux_close_epoch(&mux, 1);
	vsock_mux_release(&mux, 1);
	vsock_mux_gate(&mux, false);
}

TEST(vsock_under_filters)
{
	char uds[128], hostp[128];
	snprintf(uds, sizeof(uds), "%s/v.sock", dir);
	snprintf(hostp, sizeof(hostp), "%s/v.sock_1234", dir);
	vsock_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	REQUIRE(strlen(hostp) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, hostp, strlen(hostp) + 1);
	REQUIRE_EQ(bind(vsock_listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
	REQUIRE_EQ(listen(vsock_listener, 4), 0);
	REQUIRE_EQ(vsock_mux_init(&mux, uds, 3), 0);
	const struct step steps[] = {
		{ SC_IO, "fc_io", vsock_guest_connects },
		{ SC_REPLICATION, "petrel_repl", vsock_gate_up },
		{ SC_IO, "fc_io", vsock_data },
		{ SC_REPLICATION, "petrel_repl", vsock_epochs },
	};
	CHECK_STEPS_CLEAN(steps);
	vsock_mux_destroy(&mux);
	close(vsock_listener);
	unlink(hostp);
}

/* ---- the time: a data-plane thread's first log line and RTC read ---- */

static struct rtc rtc;

static void time_on_vcpu(void) /* vCPU: the guest reads its clock; a line is logged */
{
	uint8_t sec = rtc_get(&rtc, 0), year = rtc_get(&rtc, 9);
	if (sec == 0xee || year == 0xee)
		fail(30);
	rtc_set(&rtc, 0x0b, 0x82);   /* SET, as Linux sets the clock ... */
	rtc_set(&rtc, 9, year);
	rtc_set(&rtc, 0x0b, 0x02);   /* ... and the date is read back in (timegm's work) */
	log_warn("a vCPU's line, stamped");
}

static void time_on_io(void)
{
	log_warn("an I/O thread's line, stamped");
}

/* The child's first conversions of time happen here, on threads whose filters open no file:
 * glibc's gmtime_r, timegm and strftime would read /etc/localtime (util/utc.h). */
TEST(time_on_data_threads_under_filters)
{
	rtc_init(&rtc, 128 << 20, 0);
	const struct step steps[] = {
		{ SC_VCPU, "fc_vcpu 0", time_on_vcpu },
		{ SC_IO, "fc_io", time_on_io },
	};
	char log[4096];
	int st = run_steps(steps, sizeof(steps) / sizeof(steps[0]), log, sizeof(log));
	CHECK_CLEAN(st, log);
	CHECK_CONTAINS(log, "a vCPU's line, stamped");
	CHECK_CONTAINS(log, "an I/O thread's line, stamped");
}

int main(int argc, char **argv)
{
	if (!mkdtemp(dir))
		return 1;
	int r = unit_main(argc, argv);
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		r = 1;
	return r;
}
