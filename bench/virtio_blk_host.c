/* virtio-blk without KVM: petrel's device path against the host's own io_uring, same file,
 * same access pattern, same process, interleaved rounds.
 *
 *   virtio_blk_host FILE randread|seqread|seqwrite BS QD OPS [direct]
 *       the host side alone (bench/run.py blk runs it beside the virtio_blkbench guest):
 *       prints "host mode=M bs=B qd=Q ops=N ns=NANOSECONDS"
 *   virtio_blk_host --compare ROUNDS [--poll-us N] [--pin CPU] FILE MODE BS QD OPS [direct]
 *       ROUNDS rounds of: the host loop, the device driven by a polling driver, and the device
 *       driven by an interrupt-driven driver (in a rotating order); per-round lines and the
 *       medians. --pin: the driver (and the host loop) on CPU, the I/O thread on CPU+1, as a
 *       vCPU and the I/O thread on cores of their own (a shared core hides what polling does).
 *
 *   virtio_blk_host --versus ROUNDS FILE2 FILE MODE BS QD OPS
 *       the device on FILE (raw) against the device on FILE2 (format probed, e.g. a qcow2
 *       overlay over FILE), both drivers, ROUNDS rounds of the same offsets: "versus" lines.
 * MODE: randread, seqread, seqwrite, randwrite.
 *
 * The host loop: one thread keeps QD requests in flight on an io_uring over FILE (one
 * io_uring_submit per batch of completions, buffers of its own). The same random-slot
 * generator and sequential wrap-around as the virtio_blkbench guest.
 *
 * The device path is what a guest drives: src/devices/virtio/blk/blk.c over the file opened as a
 * drive (io_uring, O_DIRECT if asked), on a real I/O thread (src/util/io_thread.c). The driver
 * thread is the guest: it writes requests into a split virtqueue of 128 entries in "guest
 * memory" (an anonymous mapping: rings, headers, status bytes and data buffers), three
 * descriptors per request exactly as virtio_blkbench lays them out, publishes them and, with
 * EVENT_IDX, notifies only when the device's avail_event asks for it. A notification is an
 * eventfd write on the queue's notify fd: what KVM's ioeventfd does when the guest writes the
 * notify register (the VM exit itself is not in this figure). The device's interrupt is an
 * eventfd write too (the transport's interrupt op, as an irqfd). Two drivers:
 *   poll  the ring-3 guest's: polls the used ring, never asks for an interrupt;
 *   irq   Linux's way: after draining the used ring it sets used_event and sleeps on the
 *         interrupt eventfd until the device raises it.
 * Counted per request: notifications, interrupts, io_uring_enter calls of the device
 * (submits), I/O thread wakeups, and the I/O thread's CPU time. */
#include "../tests/fake_driver.h"
#include "bench_ring.h"
#include "vm/device_params.h"
#include "devices/virtio/blk/blk.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/io_thread.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QSIZE 128
#define MAXQD 32
#define DESC_GPA 0x1000
#define AVAIL_GPA (DESC_GPA + 0x1000) /* tests/fake_driver.h's layout */
#define USED_GPA (DESC_GPA + 0x2000)
#define HDR_GPA 0x4000
#define STATUS_GPA 0x5000
#define BUF_GPA 0x10000

static uint64_t rng_state, seq_next;
static int mode; /* 0 randread, 1 seqread, 2 seqwrite, 3 randwrite */
#define WRITES (mode >= 2)
static uint64_t bs, qd, ops, slots, per;

static uint64_t xorshift(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static void reset_pattern(void)
{
	rng_state = 0x9e3779b97f4a7c15ull;
	seq_next = 0;
}

static uint64_t next_sector(void)
{
	if (mode == 0 || mode == 3)
		return (xorshift() % slots) * per;
	uint64_t s = seq_next;
	seq_next = (seq_next + per) % (slots * per);
	return s;
}

/* ---- the host's own io_uring loop ---- */

static uint64_t host_cpu_ns; /* the host loop's CPU time in its last run */

static uint64_t run_host(const char *path, bool direct)
{
	int fd = open(path, (WRITES ? O_RDWR : O_RDONLY) | (direct ? O_DIRECT : 0));
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	struct io_uring ring;
	int r = io_uring_queue_init((unsigned)qd * 2, &ring, 0);
	if (r < 0) {
		fprintf(stderr, "io_uring: %s\n", strerror(-r));
		exit(1);
	}
	uint8_t **bufs = calloc(qd, sizeof(*bufs));
	for (uint64_t i = 0; i < qd; i++) {
		if (posix_memalign((void **)&bufs[i], 4096, bs))
			exit(1);
		memset(bufs[i], 0x5a, bs);
	}
	reset_pattern();
	uint64_t cpu0 = bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
	uint64_t submitted = 0, done = 0, t0 = bench_clock_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < qd && submitted < ops; i++, submitted++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		if (WRITES)
			io_uring_prep_write(sqe, fd, bufs[i], (unsigned)bs, next_sector() * 512);
		else
			io_uring_prep_read(sqe, fd, bufs[i], (unsigned)bs, next_sector() * 512);
		io_uring_sqe_set_data64(sqe, i);
	}
	io_uring_submit(&ring);
	while (done < ops) {
		struct io_uring_cqe *cqe;
		if ((r = io_uring_wait_cqe(&ring, &cqe)) < 0) {
			fprintf(stderr, "wait: %s\n", strerror(-r));
			exit(1);
		}
		unsigned n = 0, head;
		io_uring_for_each_cqe(&ring, head, cqe) {
			if (cqe->res != (int)bs) {
				fprintf(stderr, "I/O returned %d\n", cqe->res);
				exit(1);
			}
			uint64_t slot = io_uring_cqe_get_data64(cqe);
			n++;
			done++;
			if (submitted < ops) {
				struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
				if (WRITES)
					io_uring_prep_write(sqe, fd, bufs[slot], (unsigned)bs, next_sector() * 512);
				else
					io_uring_prep_read(sqe, fd, bufs[slot], (unsigned)bs, next_sector() * 512);
				io_uring_sqe_set_data64(sqe, slot);
				submitted++;
			}
		}
		io_uring_cq_advance(&ring, n);
		io_uring_submit(&ring);
	}
	uint64_t ns = bench_clock_ns(CLOCK_MONOTONIC) - t0;
	host_cpu_ns = bench_clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
	io_uring_queue_exit(&ring);
	for (uint64_t i = 0; i < qd; i++)
		free(bufs[i]);
	free(bufs);
	close(fd);
	return ns;
}

/* ---- the device path: a driver over petrel's virtio-blk ---- */

struct vmm_result {
	uint64_t ns, notifies, interrupts, submits, wakeups, io_cpu_ns;
};

static uint8_t *ram;
static struct guest_mem mem;
static int pin = -1; /* --pin N: the driver on CPU N, the I/O thread on CPU N+1 (a vCPU and the
		      * I/O thread on cores of their own, as on a real host) */

static void pin_thread(pthread_t t, int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(t, sizeof(set), &set) != 0) {
		fprintf(stderr, "cannot pin a thread to CPU %d\n", cpu);
		exit(1);
	}
}

struct driver {
	struct virtio_blk *b;
	struct bench_ring r;
};

static void fill_slot(struct driver *d, unsigned i)
{
	uint8_t *hdr = ram + HDR_GPA + 16 * i;
	uint32_t type = WRITES ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	uint64_t sector = next_sector();
	memset(hdr, 0, 16);
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	ram[STATUS_GPA + i] = 0xff;
	uint16_t k = (uint16_t)(3 * i);
	d->r.desc[k] = (struct virtq_desc){ HDR_GPA + 16 * i, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(k + 1) };
	d->r.desc[k + 1] = (struct virtq_desc){ BUF_GPA + i * bs, (uint32_t)bs,
					      (uint16_t)(VIRTQ_DESC_F_NEXT | (WRITES ? 0 : VIRTQ_DESC_F_WRITE)),
					      (uint16_t)(k + 2) };
	d->r.desc[k + 2] = (struct virtq_desc){ STATUS_GPA + i, 1, VIRTQ_DESC_F_WRITE, 0 };
	bench_ring_add(&d->r, k);
}

static void run_vmm(const char *path, int format, bool direct, bool irq, unsigned poll_us, struct vmm_result *res)
{
	memset(ram, 0, BUF_GPA);
	struct io_thread io;
	if (io_thread_init(&io) < 0 || io_thread_start(&io, "blk_io") < 0)
		exit(1);
	if (pin >= 0) {
		pin_thread(pthread_self(), pin);
		pin_thread(io.thread, pin + 1);
	}
	struct drive_config cfg = { .drive_id = "bench", .path_on_host = (char *)path, .direct = direct,
				    .format = format, .io_engine = DRIVE_IO_ASYNC, .poll_us = poll_us };
	static struct virtio_blk b;
	if (virtio_blk_create(&b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, &io) < 0) {
		fprintf(stderr, "virtio_blk_create failed\n");
		exit(1);
	}
	virtio_dev_set_transport(&b.vdev, &bench_transport, NULL);
	struct virtio_dev *v = &b.vdev;
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	pthread_mutex_lock(&v->lock);
	fake_driver_start(v, f, 1, DESC_GPA, QSIZE);
	pthread_mutex_unlock(&v->lock);
	if (!virtio_is_running(v)) {
		fprintf(stderr, "the device did not start\n");
		exit(1);
	}
	struct driver d = { .b = &b, .r = { .desc = (void *)(ram + DESC_GPA), .avail = (void *)(ram + AVAIL_GPA),
					    .used = ram + USED_GPA, .size = QSIZE, .notify_fd = b.vdev.notify_fd[0] } };
	/* The poll driver never wants an interrupt: used_event far away (as virtio_blkbench). */
	bench_ring_used_event(&d.r, irq ? 0 : 0xffff);
	uint64_t eventfd_val;
	while (read(bench_irq_fd, &eventfd_val, 8) == 8)
		;
	clockid_t io_clock;
	pthread_getcpuclockid(io.thread, &io_clock);
	uint64_t kicks0 = b.disk.file.kicks, wake0 = io.wakeups, irq0 = v->interrupts;
	uint64_t cpu0 = bench_clock_ns(io_clock);
	reset_pattern();
	uint64_t submitted = 0, done = 0, t0 = bench_clock_ns(CLOCK_MONOTONIC);
	for (uint64_t i = 0; i < qd && submitted < ops; i++, submitted++)
		fill_slot(&d, (unsigned)i);
	bench_ring_publish(&d.r);
	while (done < ops) {
		uint32_t id, len;
		bool any = false;
		while (bench_ring_used(&d.r, &id, &len)) {
			unsigned slot = id / 3;
			if (ram[STATUS_GPA + slot] != VIRTIO_BLK_S_OK) {
				fprintf(stderr, "request failed: status %u\n", ram[STATUS_GPA + slot]);
				exit(1);
			}
			done++;
			any = true;
			if (submitted < ops) {
				fill_slot(&d, slot);
				submitted++;
			}
		}
		if (any)
			bench_ring_publish(&d.r);
		if (!any && irq && done < ops) {
			/* Ask for an interrupt at the next completion, look once more, then sleep. */
			bench_ring_used_event(&d.r, d.r.last_used);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (bench_ring_more(&d.r))
				continue;
			struct pollfd p = { bench_irq_fd, POLLIN, 0 };
			if (poll(&p, 1, 10000) != 1) {
				fprintf(stderr, "no interrupt after %llu of %llu requests\n", (unsigned long long)done,
					(unsigned long long)ops);
				exit(1);
			}
			if (read(bench_irq_fd, &eventfd_val, 8) < 0)
				abort();
		} else if (!any) {
			__builtin_ia32_pause();
		}
	}
	res->ns = bench_clock_ns(CLOCK_MONOTONIC) - t0;
	res->io_cpu_ns = bench_clock_ns(io_clock) - cpu0;
	res->notifies = d.r.notifies;
	res->interrupts = v->interrupts - irq0;
	res->submits = b.disk.file.kicks - kicks0;
	res->wakeups = io.wakeups - wake0;
	io_thread_stop(&io);
	virtio_dev_destroy(v);
	io_thread_destroy(&io);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static uint64_t median(uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

static void usage(void)
{
	fprintf(stderr, "usage: virtio_blk_host [--compare ROUNDS | --versus ROUNDS FILE2] [--poll-us N] [--pin CPU] FILE "
			"randread|seqread|seqwrite|randwrite BS QD OPS [direct]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned rounds = 0, poll_us = 0;
	const char *versus = NULL;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--compare") && i + 1 < argc)
			rounds = (unsigned)strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--versus") && i + 2 < argc)
			rounds = (unsigned)strtoul(argv[++i], NULL, 0), versus = argv[++i];
		else if (!strcmp(argv[i], "--pin") && i + 1 < argc)
			pin = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--poll-us") && i + 1 < argc)
			poll_us = (unsigned)strtoul(argv[++i], NULL, 0);
		else
			usage();
	}
	if (argc - i < 5)
		usage();
	const char *path = argv[i], *mname = argv[i + 1];
	mode = !strcmp(mname, "seqread") ? 1 : !strcmp(mname, "seqwrite") ? 2 : !strcmp(mname, "randread") ? 0 :
	       !strcmp(mname, "randwrite") ? 3 : -1;
	bs = strtoull(argv[i + 2], NULL, 0);
	qd = strtoull(argv[i + 3], NULL, 0);
	ops = strtoull(argv[i + 4], NULL, 0);
	bool direct = argc - i > 5 && !strcmp(argv[i + 5], "direct");
	if (mode < 0 || !bs || bs % 512 || bs > (1u << 20) || !qd || qd > MAXQD || !ops)
		usage();
	struct stat sb;
	if (stat(path, &sb) < 0) {
		perror(path);
		return 1;
	}
	per = bs / 512;
	slots = (uint64_t)sb.st_size / 512 / per;
	if (!slots)
		usage();
	if (!rounds) {
		uint64_t ns = run_host(path, direct);
		printf("host mode=%s bs=%llu qd=%llu ops=%llu ns=%llu\n", mname, (unsigned long long)bs,
		       (unsigned long long)qd, (unsigned long long)ops, (unsigned long long)ns);
		return 0;
	}

	log_set_level(LOG_WARN);
	if (pin >= 0) /* the host loop on the driver's CPU */
		pin_thread(pthread_self(), pin);
	uint64_t size = BUF_GPA + qd * bs;
	ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED)
		return 1;
	memset(ram, 0x5a, size); /* writes must not come from never-touched pages */
	mem.regions[0] = (struct guest_region){ .gpa = 0, .size = size, .hva = ram };
	mem.nregions = 1;
	mem.total = size;
	bench_irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (versus) {
		/* The device on FILE (raw) against the device on FILE2 (its format probed: a qcow2
		 * overlay), each driver, alternating; every round repeats the same offsets. */
		for (unsigned r = 0; r < rounds; r++) {
			struct vmm_result a[2], b[2];
			for (int irq = 0; irq < 2; irq++) {
				run_vmm(path, DISK_FORMAT_RAW, direct, irq, poll_us, &a[irq]);
				run_vmm(versus, DISK_FORMAT_AUTO, direct, irq, poll_us, &b[irq]);
			}
			printf("versus round %u mode=%s bs=%llu qd=%llu ops=%llu raw_poll_ns=%llu other_poll_ns=%llu "
			       "raw_irq_ns=%llu other_irq_ns=%llu\n", r, mname, (unsigned long long)bs, (unsigned long long)qd,
			       (unsigned long long)ops, (unsigned long long)a[0].ns, (unsigned long long)b[0].ns,
			       (unsigned long long)a[1].ns, (unsigned long long)b[1].ns);
		}
		return 0;
	}
	uint64_t *host = calloc(rounds, 8), *vpoll = calloc(rounds, 8), *virq = calloc(rounds, 8);
	struct vmm_result sum[2] = { 0 };
	uint64_t host_cpu = 0;
	for (unsigned r = 0; r < rounds; r++) {
		struct vmm_result p, q;
		/* Each round in another order: none of the three always runs first (O_DIRECT reads
		 * warm whatever caches lie below this machine's disk for the ones after). */
		for (unsigned k = 0; k < 3; k++) {
			unsigned which = (k + r) % 3;
			if (which == 0) {
				host[r] = run_host(path, direct);
				host_cpu += host_cpu_ns;
			} else {
				run_vmm(path, DISK_FORMAT_RAW, direct, which == 2, poll_us, which == 2 ? &q : &p);
			}
		}
		vpoll[r] = p.ns;
		virq[r] = q.ns;
		printf("round %u host_ns=%llu poll_ns=%llu irq_ns=%llu\n", r, (unsigned long long)host[r],
		       (unsigned long long)p.ns, (unsigned long long)q.ns);
		for (int k = 0; k < 2; k++) {
			struct vmm_result *s = &sum[k], *x = k ? &q : &p;
			s->notifies += x->notifies;
			s->interrupts += x->interrupts;
			s->submits += x->submits;
			s->wakeups += x->wakeups;
			s->io_cpu_ns += x->io_cpu_ns;
		}
	}
	uint64_t h = median(host, rounds), p = median(vpoll, rounds), q = median(virq, rounds);
	double n = (double)ops * rounds;
	printf("compare mode=%s bs=%llu qd=%llu ops=%llu direct=%d poll_us=%u rounds=%u host_ns=%llu poll_ns=%llu "
	       "irq_ns=%llu ratio_poll=%.3f ratio_irq=%.3f\n",
	       mname, (unsigned long long)bs, (unsigned long long)qd, (unsigned long long)ops, direct, poll_us, rounds,
	       (unsigned long long)h, (unsigned long long)p, (unsigned long long)q, (double)h / (double)p,
	       (double)h / (double)q);
	printf("per-request host cpu_ns=%.0f\n", host_cpu / n);
	for (int k = 0; k < 2; k++)
		printf("per-request %s notifies=%.3f interrupts=%.3f submits=%.3f wakeups=%.3f io_cpu_ns=%.0f\n",
		       k ? "irq" : "poll", sum[k].notifies / n, sum[k].interrupts / n, sum[k].submits / n,
		       sum[k].wakeups / n, sum[k].io_cpu_ns / n);
	free(host);
	free(vpoll);
	free(virq);
	return 0;
}
