/* Rate-limiter accuracy, no KVM: achieved against configured bandwidth and operation rates for
 * refill times from 1 ms to 10 s, on a drive and on both directions of a network interface.
 *
 * Each device is petrel's own (virtio-blk on a raw file with io_uring, virtio-net on one end of
 * a datagram socket pair standing for the tap) on a real I/O thread (src/util/io_thread.c) with
 * the limiter's real timerfd. The driver is this program (tests/unit/fake_ring.h's rings): it
 * keeps every queue full, notifies through the queue's ioeventfd as a guest's write would, and
 * counts what the device completes (blk, net rx: the used ring; net tx: what reaches the other
 * end of the "tap"). Each limiter starts with an empty bucket (the start-up burst of a full
 * one is not what is measured) and the measurement starts when it first throttles and lasts
 * SECONDS.
 *
 * usage: rate_limit_host [SECONDS (default 2)] [FILE (a scratch file, default /tmp)]
 * Prints one table row per case; docs/security.md#rate-limiters has the figures. */
#define MEM_SIZE (8u << 20)
#include "../tests/unit/fake_ring.h"

#include "vm/device_params.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/net/net.h"
#include "util/util.h"
#include "util/io_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_RATE (16ull << 20)   /* bytes per second */
#define OPS_RATE 1000ull        /* operations per second */
#define NET_BIG 9000            /* frame bytes (no virtio-net header) for the bandwidth cases */
#define NET_SMALL 60            /* ... for the operations cases */
#define BLK_BIG (16u << 10)     /* read size for the bandwidth cases */
#define BLK_SMALL 4096
#define FILE_SIZE (64ull << 20)
#define BUF_GPA 0x100000        /* data buffers: 16 of 64 KiB */

static double seconds = 2.0;
static struct io_thread io;

static uint16_t used_now(unsigned q)
{
	return __atomic_load_n((uint16_t *)(qused(q) + 2), __ATOMIC_ACQUIRE);
}

static void publish_idx(unsigned q, uint16_t idx, uint16_t head)
{
	uint16_t *a = qavail(q);
	a[2 + idx % QS] = head;
	__atomic_store_n(&a[1], (uint16_t)(idx + 1), __ATOMIC_RELEASE);
}

static void kick(struct virtio_dev *d, unsigned q)
{
	uint64_t one = 1;
	if (write(d->notify_fd[q], &one, sizeof(one)) < 0)
		abort();
}

/* refill_ms 0: no limit (the path's own capacity, for reference) */
static struct token_bucket_config bucket(uint64_t rate, uint64_t refill_ms)
{
	if (!refill_ms)
		return (struct token_bucket_config){ 0 };
	return (struct token_bucket_config){ .present = true, .size = rate * refill_ms / 1000,
					     .refill_time = refill_ms };
}

/* Start from an empty bucket: the steady rate is the subject here, not the start-up burst (a
 * full bucket of up to 10 s of tokens would take that long to drain). Device lock held. */
static void empty(struct rate_limiter *rl)
{
	uint64_t now = now_ns();
	rl->bw.budget = rl->ops.budget = 0;
	rl->bw.last_ns = rl->ops.last_ns = now;
}

static uint64_t throttled(const struct rate_limiter *rl)
{
	return __atomic_load_n(&rl->throttled, __ATOMIC_RELAXED);
}

/* The measurement loop all cases share: step() keeps the queues full and returns how much
 * (bytes or operations) completed since the last call. */
struct run {
	uint64_t (*step)(void *);
	void *arg;
	const struct rate_limiter *rl;
};

static double measure(struct run *r)
{
	uint64_t t_end = now_ns() + 10000000000ull;
	while (rate_limiter_active(r->rl) && !throttled(r->rl)) {   /* the start-up bucket (up to 10 s of tokens) goes first */
		r->step(r->arg);
		if (now_ns() > t_end)
			return -1;
		usleep(20);
	}
	r->step(r->arg);
	uint64_t t0 = now_ns(), done = 0, stop = t0 + (uint64_t)(seconds * 1e9);
	while (now_ns() < stop) {
		usleep(50);
		done += r->step(r->arg);
	}
	return (double)done * 1e9 / (double)(now_ns() - t0);
}

/* ---- virtio-net ---- */

struct net_run {
	struct virtio_net n;
	int peer;
	bool bytes;              /* count bytes, not frames */
	size_t len;
	uint16_t pub[2], seen[2];
};

static uint64_t net_tx_step(void *p)
{
	struct net_run *r = p;
	uint16_t used = used_now(1);
	bool more = false;
	while ((uint16_t)(r->pub[1] - used) < QS / 2) {
		unsigned slot = r->pub[1] % (QS / 2);
		uint64_t a = BUF_GPA + 0x10000ull * slot;
		set_desc(1, 2 * slot, a, 12, VIRTQ_DESC_F_NEXT, (uint16_t)(2 * slot + 1));
		set_desc(1, 2 * slot + 1, a + 0x100, (uint32_t)r->len, 0, 0);
		publish_idx(1, r->pub[1], (uint16_t)(2 * slot));
		r->pub[1]++;
		more = true;
	}
	if (more)
		kick(&r->n.vdev, VIRTIO_NET_TXQ);
	uint64_t got = 0;
	static uint8_t buf[12 + NET_BIG];
	ssize_t k;
	while ((k = recv(r->peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		got += r->bytes ? (uint64_t)k - 12 : 1;
	return got;
}

static uint64_t net_rx_step(void *p)
{
	struct net_run *r = p;
	static uint8_t frame[12 + NET_BIG];
	while (send(r->peer, frame, 12 + r->len, MSG_DONTWAIT) > 0)
		;
	uint64_t got = 0;
	uint16_t used = used_now(0);
	for (; r->seen[0] != used; r->seen[0]++) {
		struct virtq_used_elem e = used_elem(0, r->seen[0]);
		got += r->bytes ? e.len - 12 : 1;
	}
	bool more = false;
	while ((uint16_t)(r->pub[0] - used) < QS) {
		unsigned slot = r->pub[0] % QS;
		set_desc(0, slot, BUF_GPA + 0x10000ull * slot, 0x10000, VIRTQ_DESC_F_WRITE, 0);
		publish_idx(0, r->pub[0], (uint16_t)slot);
		r->pub[0]++;
		more = true;
	}
	if (more)
		kick(&r->n.vdev, VIRTIO_NET_RXQ);
	return got;
}

static double run_net(bool rx, bool bytes, uint64_t refill_ms)
{
	static struct net_run r;
	mem_setup();
	memset(&r, 0, sizeof(r));
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	struct rate_limiter_config rl = { .present = true };
	if (bytes)
		rl.bandwidth = bucket(BW_RATE, refill_ms);
	else
		rl.ops = bucket(OPS_RATE, refill_ms);
	struct net_config cfg = { .iface_id = "eth0", .host_dev_name = "sp" };
	if (rx)
		cfg.rx_rate_limiter = rl;
	else
		cfg.tx_rate_limiter = rl;
	if (virtio_net_create_fd(&r.n, vm_net_params(&cfg, &(struct virtio_net_params){ 0 }), 0, sv[0], &mem, &io) < 0)
		abort();
	r.peer = sv[1];
	r.bytes = bytes;
	r.len = bytes ? NET_BIG : NET_SMALL;
	pthread_mutex_lock(&r.n.vdev.lock);
	start(&r.n.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF), 2);
	empty(rx ? &r.n.rx_rl : &r.n.tx_rl);
	pthread_mutex_unlock(&r.n.vdev.lock);
	struct run run = { rx ? net_rx_step : net_tx_step, &r, rx ? &r.n.rx_rl : &r.n.tx_rl };
	double v = measure(&run);
	virtio_dev_destroy(&r.n.vdev);
	close(r.peer);
	return v;
}

/* ---- virtio-blk ---- */

struct blk_run {
	struct virtio_blk b;
	bool bytes;
	uint32_t len;
	uint64_t next_sector;
	uint16_t pub, seen;
};

#define BLK_CHAINS (QS / 3)

static uint64_t blk_step(void *p)
{
	struct blk_run *r = p;
	uint16_t used = used_now(0);
	uint64_t got = 0;
	for (; r->seen != used; r->seen++)
		got += r->bytes ? r->len : 1;
	bool more = false;
	while ((uint16_t)(r->pub - used) < BLK_CHAINS) {
		unsigned slot = r->pub % BLK_CHAINS;
		uint64_t hdr = BUF_GPA - 0x1000 + 32 * slot, data = BUF_GPA + 0x10000ull * slot;
		uint32_t type = VIRTIO_BLK_T_IN;
		uint64_t sector = r->next_sector;
		r->next_sector = (r->next_sector + r->len / 512) % (FILE_SIZE / 512 - r->len / 512);
		memset(ram + hdr, 0, 16);
		memcpy(ram + hdr, &type, 4);
		memcpy(ram + hdr + 8, &sector, 8);
		unsigned k = 3 * slot;
		set_desc(0, k, hdr, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(k + 1));
		set_desc(0, k + 1, data, r->len, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(k + 2));
		set_desc(0, k + 2, hdr + 16, 1, VIRTQ_DESC_F_WRITE, 0);
		publish_idx(0, r->pub, (uint16_t)k);
		r->pub++;
		more = true;
	}
	if (more)
		kick(&r->b.vdev, 0);
	return got;
}

static double run_blk(const char *path, bool bytes, uint64_t refill_ms)
{
	static struct blk_run r;
	mem_setup();
	memset(&r, 0, sizeof(r));
	struct drive_config cfg = { .drive_id = "bench", .path_on_host = (char *)path, .is_read_only = true,
				    .format = DISK_FORMAT_RAW, .io_engine = DRIVE_IO_ASYNC };
	cfg.rate_limiter.present = true;
	if (bytes)
		cfg.rate_limiter.bandwidth = bucket(BW_RATE, refill_ms);
	else
		cfg.rate_limiter.ops = bucket(OPS_RATE, refill_ms);
	if (virtio_blk_create(&r.b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, &io) < 0)
		abort();
	r.bytes = bytes;
	r.len = bytes ? BLK_BIG : BLK_SMALL;
	pthread_mutex_lock(&r.b.vdev.lock);
	start(&r.b.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1), 1);
	empty(&r.b.rl);
	pthread_mutex_unlock(&r.b.vdev.lock);
	struct run run = { blk_step, &r, &r.b.rl };
	double v = measure(&run);
	virtio_dev_destroy(&r.b.vdev);
	return v;
}

static void row(const char *dev, bool bytes, uint64_t refill_ms, double got)
{
	if (!refill_ms) {
		printf("| %-7s | %-9s | unlimited | %16s | %10.2f %s |         |\n", dev, bytes ? "bandwidth" : "ops", "",
		       bytes ? got / (1 << 20) : got, bytes ? "MiB/s" : "ops/s");
		return;
	}
	double want = bytes ? (double)(BW_RATE * refill_ms / 1000) * 1000.0 / (double)refill_ms
			    : (double)(OPS_RATE * refill_ms / 1000) * 1000.0 / (double)refill_ms;
	const char *unit = bytes ? "MiB/s" : "ops/s";
	double scale = bytes ? 1.0 / (1 << 20) : 1.0;
	if (got < 0)
		printf("| %-7s | %-9s | %6llu ms | %10.2f %s | never throttled |\n", dev, bytes ? "bandwidth" : "ops",
		       (unsigned long long)refill_ms, want * scale, unit);
	else
		printf("| %-7s | %-9s | %6llu ms | %10.2f %s | %10.2f %s | %+6.2f%% |\n", dev,
		       bytes ? "bandwidth" : "ops", (unsigned long long)refill_ms, want * scale, unit, got * scale,
		       unit, (got - want) * 100.0 / want);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		seconds = atof(argv[1]);
	char path[256];
	snprintf(path, sizeof(path), "%s/rate_limit_host.%d.img", argc > 2 ? argv[2] : "/tmp", (int)getpid());
	int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)FILE_SIZE) < 0) {
		perror(path);
		return 1;
	}
	/* data in the page cache, so the drive is limited by its limiter, not the disk */
	static char chunk[1 << 20];
	memset(chunk, 0x5a, sizeof(chunk));
	for (uint64_t off = 0; off < FILE_SIZE; off += sizeof(chunk))
		if (pwrite(fd, chunk, sizeof(chunk), (off_t)off) != (ssize_t)sizeof(chunk))
			return 1;
	close(fd);
	if (io_thread_init(&io) < 0 || io_thread_start(&io, "rl_io") < 0)
		return 1;
	printf("# %g s per case after the first throttle; bandwidth %llu MiB/s (net %d-byte frames, "
	       "blk %u KiB reads), ops %llu/s (net %d-byte frames, blk %u KiB reads)\n", seconds,
	       BW_RATE >> 20, NET_BIG, BLK_BIG >> 10, OPS_RATE, NET_SMALL, BLK_SMALL >> 10);
	printf("| device  | bucket    | refill    | configured       | achieved         | error   |\n");
	printf("|---------|-----------|-----------|------------------|------------------|---------|\n");
	static const uint64_t refills[] = { 0, 1, 10, 100, 1000, 10000 };
	for (int bytes = 1; bytes >= 0; bytes--)
		for (size_t i = 0; i < sizeof(refills) / sizeof(refills[0]); i++) {
			row("net tx", bytes, refills[i], run_net(false, bytes, refills[i]));
			row("net rx", bytes, refills[i], run_net(true, bytes, refills[i]));
			row("blk", bytes, refills[i], run_blk(path, bytes, refills[i]));
		}
	io_thread_stop(&io);
	io_thread_destroy(&io);
	unlink(path);
	return 0;
}
