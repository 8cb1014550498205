/* virtio-net without KVM: petrel's device path (src/devices/virtio/net/net.c, net_rx.c) on a real
 * I/O thread, driven through its virtqueues by a driver thread, the frames going to or coming
 * from a peer in the same process. What a guest's frames cost the VMM, per frame: the I/O
 * thread's wakeups and CPU time, the driver's notifications, the device's interrupts (bench/
 * virtio_net_host.py adds the I/O thread's system calls per frame from strace).
 *
 *   virtio_net_host [--tap IFNAME] tx|rx SIZE FRAMES [ROUNDS]
 *
 * SIZE: the Ethernet frame's bytes (60..65535), a 12-byte vnet header in front. The back end:
 * - default: a Unix SOCK_DGRAM socket pair stands in for the tap (one datagram = one frame
 *   with its header, as the tap reads and writes them; no root needed). The peer thread
 *   receives (tx) with recvmmsg or sends (rx) with sendmmsg, blocking: nothing is dropped.
 * - --tap IFNAME (root): petrel opens the tap as a VM does (the interface must be up). tx: the
 *   frames go to the host's stack (addressed to nobody there, which drops them); rx: the peer
 *   sends through a packet socket bound to the interface (bench/net_host.c's way), so the tap
 *   may drop what the device does not read in time (counted as lost).
 * The driver is Linux's shape: 256-entry queues, VIRTIO_F_EVENT_IDX, mergeable 4 KiB receive
 * buffers; it reaps used buffers by polling and, when it has nothing to do, asks for an
 * interrupt (used_event) and sleeps on the interrupt eventfd (the transport's irqfd here).
 * A notification is an eventfd write on the queue's notify fd: what KVM's ioeventfd does when
 * the guest writes the notify register (the VM exit itself is not in these figures).
 *
 * Prints "io_tid=TID" and per round "round R dir=D size=S frames=N lost=L ns=T notifies=..
 * interrupts=.. wakeups=.. io_cpu_ns=..". */
#include "../tests/fake_driver.h"
#include "bench_ring.h"
#include "bench_util.h"
#include "devices/virtio/net/net.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/io_thread.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define QSIZE VIRTIO_NET_QUEUE_SIZE
#define HDR VIRTIO_NET_HDR_LEN
#define RING_GPA 0x1000               /* queue q's rings at RING_GPA + 0x3000 q (fake_driver.h) */
#define BUF_GPA 0x100000
#define RX_BUF 4096                   /* Linux's mergeable receive buffers: a page */
#define TX_STRIDE 0x10000             /* one transmit buffer per slot, room for 64 KiB frames */
#define PEER_BATCH 64

static uint8_t *ram;
static struct guest_mem mem;
static const char *tap_name;
static int dir_tx;
static uint32_t size;
static uint64_t frames;
static volatile int peer_stop;
static uint64_t peer_count;

/* The Ethernet frame every slot carries: to 02:62:65:6e:63:68 (nobody on the host). */
static void make_frame(uint8_t *f)
{
	static const uint8_t dst[6] = { 0x02, 0x62, 0x65, 0x6e, 0x63, 0x68 };
	bench_frame(f, dst, size);
}

/* ---- the peer: the far end of the socket pair, or a packet socket on the tap ---- */

static void *peer_sink(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t buf[PEER_BATCH][HDR + 65536];
	struct iovec iov[PEER_BATCH];
	struct mmsghdr m[PEER_BATCH];
	for (int i = 0; i < PEER_BATCH; i++) {
		iov[i] = (struct iovec){ buf[i], sizeof(buf[i]) };
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov[i], .msg_iovlen = 1 } };
	}
	while (!peer_stop) {
		int r = recvmmsg(fd, m, PEER_BATCH, 0, NULL);
		if (r < 0 && errno != EINTR && errno != EAGAIN)
			break;
		for (int i = 0; i < r; i++) /* empty ones: the end of the stream (shutdown) */
			if (m[i].msg_len)
				__atomic_add_fetch(&peer_count, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void *peer_source(void *arg)
{
	int fd = *(int *)arg;
	static uint8_t f[HDR + 65536];
	memset(f, 0, HDR);
	uint8_t *frame = tap_name ? f + HDR : f; /* a packet socket sends the bare frame */
	make_frame(f + HDR);
	struct iovec iov = { frame, tap_name ? size : HDR + size };
	struct mmsghdr m[PEER_BATCH];
	for (int i = 0; i < PEER_BATCH; i++)
		m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
	uint64_t sent = 0;
	while (sent < frames && !peer_stop) {
		unsigned n = frames - sent < PEER_BATCH ? (unsigned)(frames - sent) : PEER_BATCH;
		int r = sendmmsg(fd, m, n, 0);
		if (r > 0)
			sent += (uint64_t)r;
		else if (r < 0 && errno != EINTR && errno != EAGAIN && errno != ENOBUFS)
			break;
	}
	__atomic_store_n(&peer_count, sent, __ATOMIC_RELEASE);
	return NULL;
}

static int packet_socket(void)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(0x88b5));
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(0x88b5),
				  .sll_ifindex = (int)if_nametoindex(tap_name), .sll_halen = 6 };
	if (s < 0 || !sa.sll_ifindex || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror(tap_name);
		exit(1);
	}
	int sndbuf = 16 << 20;
	setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	return s;
}

/* ---- the driver ---- */

static void ring_init(struct bench_ring *r, struct virtio_dev *v, unsigned q)
{
	uint64_t base = fake_driver_desc(RING_GPA, q);
	*r = (struct bench_ring){ .desc = (void *)(ram + base), .avail = (void *)(ram + base + 0x1000),
				  .used = ram + base + 0x2000, .size = QSIZE, .notify_fd = v->notify_fd[q] };
	bench_ring_used_event(r, 0xffff); /* no interrupt until the driver asks for one */
}

/* Nothing to do: ask for an interrupt at the next used buffer, look once more, sleep. false
 * when none came within timeout_ms. */
static bool ring_sleep(struct bench_ring *r, int timeout_ms)
{
	bench_ring_used_event(r, r->last_used);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool ok = true;
	if (!bench_ring_more(r)) {
		struct pollfd p = { bench_irq_fd, POLLIN, 0 };
		ok = poll(&p, 1, timeout_ms) == 1;
		uint64_t v;
		if (ok && read(bench_irq_fd, &v, sizeof(v)) < 0)
			abort();
	}
	bench_ring_used_event(r, (uint16_t)(r->last_used - 1)); /* passed: none until asked again */
	return ok;
}

struct result {
	uint64_t ns, frames, lost, notifies, interrupts, wakeups, io_cpu_ns;
};

/* Transmit: every slot carries the frame; refill what the device used. */
static void drive_tx(struct virtio_dev *v, struct result *res)
{
	struct bench_ring r;
	ring_init(&r, v, VIRTIO_NET_TXQ);
	for (unsigned i = 0; i < QSIZE; i++) {
		uint8_t *b = ram + BUF_GPA + (uint64_t)i * TX_STRIDE;
		memset(b, 0, HDR);
		make_frame(b + HDR);
		r.desc[i] = (struct virtq_desc){ BUF_GPA + (uint64_t)i * TX_STRIDE, HDR + size, 0, 0 };
	}
	uint64_t queued = 0, done = 0;
	for (; queued < QSIZE && queued < frames; queued++)
		bench_ring_add(&r, (uint16_t)queued);
	bench_ring_publish(&r);
	while (done < frames) {
		uint32_t id, len;
		bool any = false;
		while (bench_ring_used(&r, &id, &len)) {
			done++;
			any = true;
			if (queued < frames) {
				bench_ring_add(&r, (uint16_t)id);
				queued++;
			}
		}
		if (any)
			bench_ring_publish(&r);
		else if (!ring_sleep(&r, 10000)) {
			fprintf(stderr, "tx: no interrupt after %llu of %llu frames\n", (unsigned long long)done,
				(unsigned long long)frames);
			exit(1);
		}
	}
	res->frames = done;
	res->notifies = r.notifies;
}

/* Receive: QSIZE page buffers; a frame takes num_buffers of them (its first one's header).
 * Ends when every frame came, or nothing came for a while after the peer sent its last. */
static void drive_rx(struct virtio_dev *v, struct result *res)
{
	struct bench_ring r;
	ring_init(&r, v, VIRTIO_NET_RXQ);
	for (unsigned i = 0; i < QSIZE; i++) {
		r.desc[i] = (struct virtq_desc){ BUF_GPA + (uint64_t)i * RX_BUF, RX_BUF, VIRTQ_DESC_F_WRITE, 0 };
		bench_ring_add(&r, (uint16_t)i);
	}
	bench_ring_publish(&r);
	uint64_t got = 0;
	unsigned rest = 0; /* buffers still to come of the current frame */
	bool ours = false;  /* the current frame is the peer's (a tap also carries the host's own) */
	int quiet = 0;
	while (got < frames) {
		uint32_t id, len;
		bool any = false;
		while (bench_ring_used(&r, &id, &len)) {
			any = true;
			const uint8_t *b = ram + BUF_GPA + (uint64_t)id * RX_BUF;
			if (!rest) {
				uint16_t nb;
				memcpy(&nb, b + 10, 2);
				if (!nb || len < HDR + 14) {
					fprintf(stderr, "rx: a bad frame (buffers %u, length %u)\n", nb, len);
					exit(1);
				}
				rest = nb;
				ours = b[HDR + 12] == 0x88 && b[HDR + 13] == 0xb5;
			}
			if (!--rest && ours)
				got++;
			bench_ring_add(&r, (uint16_t)id);
		}
		if (any) {
			bench_ring_publish(&r);
			quiet = 0;
		} else if (!ring_sleep(&r, 200)) {
			/* The peer is done and nothing came for 200 ms x 5: the rest was lost. */
			if (__atomic_load_n(&peer_count, __ATOMIC_ACQUIRE) && ++quiet >= 5)
				break;
		}
	}
	res->frames = got;
	res->lost = frames - got;
	res->notifies = r.notifies;
}

static void run(struct result *res, pid_t *io_tid)
{
	memset(ram, 0, BUF_GPA);
	struct io_thread io;
	if (io_thread_init(&io) < 0 || io_thread_start(&io, "net_io") < 0)
		exit(1);
	*io_tid = 0;
	static struct virtio_net n;
	struct virtio_net_params cfg = { .iface_id = "eth0", .host_dev_name = tap_name, .has_mac = true,
					 .guest_mac = { 0x02, 0x62, 0x65, 0x6e, 0x63, 0x68 } };
	int sv[2] = { -1, -1 }, err;
	if (tap_name) {
		err = virtio_net_create(&n, &cfg, 0, &mem, &io);
	} else {
		if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
			exit(1);
		int sb = 4 << 20;
		setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sb, sizeof(sb));
		fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
		err = virtio_net_create_fd(&n, &cfg, 0, sv[0], &mem, &io);
	}
	if (err < 0) {
		fprintf(stderr, "cannot create the device: %s\n", strerror(-err));
		exit(1);
	}
	struct virtio_dev *v = &n.vdev;
	virtio_dev_set_transport(v, &bench_transport, NULL);
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
		     VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_MAC);
	pthread_mutex_lock(&v->lock);
	fake_driver_start(v, f, VIRTIO_NET_NQUEUES, RING_GPA, QSIZE);
	pthread_mutex_unlock(&v->lock);
	if (!virtio_is_running(v)) {
		fprintf(stderr, "the device did not start\n");
		exit(1);
	}
	/* The I/O thread's id, for strace's per-thread counts. */
	DIR *dir = opendir("/proc/self/task");
	struct dirent *e;
	while (dir && (e = readdir(dir))) {
		char path[300], comm[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *cf = fopen(path, "r");
		if (cf && fgets(comm, sizeof(comm), cf) && !strncmp(comm, "net_io", 6))
			*io_tid = atoi(e->d_name);
		if (cf)
			fclose(cf);
	}
	if (dir)
		closedir(dir);
	uint64_t drain;
	while (read(bench_irq_fd, &drain, 8) == 8)
		;
	int peer_fd = tap_name ? (dir_tx ? -1 : packet_socket()) : sv[1];
	peer_stop = 0;
	peer_count = 0;
	pthread_t peer;
	bool has_peer = peer_fd >= 0;
	clockid_t io_clock;
	pthread_getcpuclockid(io.thread, &io_clock);
	uint64_t wake0 = io.wakeups, irq0 = v->interrupts, cpu0 = bench_clock_ns(io_clock);
	uint64_t t0 = bench_clock_ns(CLOCK_MONOTONIC);
	if (has_peer)
		pthread_create(&peer, NULL, dir_tx ? peer_sink : peer_source, &peer_fd);
	if (dir_tx)
		drive_tx(v, res);
	else
		drive_rx(v, res);
	res->ns = bench_clock_ns(CLOCK_MONOTONIC) - t0;
	res->io_cpu_ns = bench_clock_ns(io_clock) - cpu0;
	res->interrupts = v->interrupts - irq0;
	res->wakeups = io.wakeups - wake0;
	if (has_peer) {
		if (dir_tx) /* the sink has what the device wrote, or soon */
			for (int i = 0; i < 2000 && __atomic_load_n(&peer_count, __ATOMIC_RELAXED) < frames; i++)
				usleep(1000);
		peer_stop = 1;
		if (dir_tx)
			shutdown(peer_fd, SHUT_RDWR);
		pthread_join(peer, NULL);
		if (dir_tx)
			res->lost = frames - peer_count;
	}
	io_thread_stop(&io);
	virtio_dev_destroy(v);
	io_thread_destroy(&io);
	if (peer_fd >= 0)
		close(peer_fd);
}

static void usage(void)
{
	fprintf(stderr, "usage: virtio_net_host [--tap IFNAME] tx|rx SIZE FRAMES [ROUNDS]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int i = 1;
	if (i + 1 < argc && !strcmp(argv[i], "--tap")) {
		tap_name = argv[i + 1];
		i += 2;
	}
	if (argc - i < 3)
		usage();
	dir_tx = !strcmp(argv[i], "tx");
	if (!dir_tx && strcmp(argv[i], "rx"))
		usage();
	size = (uint32_t)strtoul(argv[i + 1], NULL, 0);
	frames = strtoull(argv[i + 2], NULL, 0);
	unsigned rounds = argc - i > 3 ? (unsigned)strtoul(argv[i + 3], NULL, 0) : 1;
	if (size < 60 || size > 65535 || !frames || !rounds)
		usage();
	log_set_level(LOG_WARN);
	uint64_t ram_size = BUF_GPA + (uint64_t)QSIZE * TX_STRIDE;
	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (ram == MAP_FAILED)
		return 1;
	mem.regions[0] = (struct guest_region){ .gpa = 0, .size = ram_size, .hva = ram };
	mem.nregions = 1;
	mem.total = ram_size;
	bench_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	for (unsigned r = 0; r < rounds; r++) {
		struct result res = { 0 };
		pid_t tid;
		run(&res, &tid);
		printf("io_tid=%d\n", (int)tid);
		double n = res.frames ? (double)res.frames : 1;
		printf("round %u dir=%s size=%u frames=%llu lost=%llu ns=%llu kframes_s=%.1f notifies=%.4f interrupts=%.4f "
		       "wakeups=%.4f io_cpu_ns=%.0f\n", r, dir_tx ? "tx" : "rx", size, (unsigned long long)res.frames,
		       (unsigned long long)res.lost, (unsigned long long)res.ns, res.frames / (res.ns / 1e9) / 1e3,
		       res.notifies / n, res.interrupts / n, res.wakeups / n, res.io_cpu_ns / n);
		fflush(stdout);
	}
	return 0;
}
