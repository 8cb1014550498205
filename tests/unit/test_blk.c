/* virtio-blk without KVM, driven through fake_ring.h as a driver would: requests over a raw
 * image on io_uring (one submit per notification batch, completions in the used ring, the
 * interrupt when the driver's event index asks for it) and over a qcow2 overlay, whose reads
 * of the backing file and rewrites in place take the same ring while allocation stays
 * synchronous. */
#include "unit.h"

#define MEM_SIZE (2u << 20)
#include "fake_ring.h"
#define DISK (4u << 20)
#include "fake_blk.h"

#include "block/qcow2.h"
#include "block/qcow2_int.h" /* the commit ring, made unavailable */
#include "devices/virtio/blk/blk.h"
#include "util/util.h"

#include <fcntl.h>
#include <unistd.h>


static unsigned irqs;

static void count_irq(void *opaque, int q)
{
	(void)opaque;
	if (q >= 0)
		irqs++;
}

static const struct virtio_transport_ops transport = { count_irq };

static int setup(struct virtio_blk *b, const char *path, int format, uint64_t features)
{
	irqs = 0;
	return fake_blk_start(b, path, format, DRIVE_IO_ASYNC, features, &transport);
}

static void run(struct virtio_blk *b)
{
	fake_blk_run(b);
}

static bool data_is(unsigned slot, uint64_t sector, uint32_t len, unsigned seed)
{
	for (uint32_t k = 0; k < len; k++)
		if (ram[DATA + 0x10000ull * slot + k] != (uint8_t)((sector + k / 512 + seed) & 0xff))
			return false;
	return true;
}

TEST(reads_go_through_io_uring_with_one_submit_per_batch)
{
	static struct virtio_blk b;
	REQUIRE_EQ(setup(&b, raw_image("r.raw", 0), DISK_FORMAT_RAW, VIRTIO_BIT(VIRTIO_F_EVENT_IDX)), 0);
	REQUIRE(disk_async(&b.disk));
	for (unsigned i = 0; i < 5; i++)
		queue_req(i, VIRTIO_BLK_T_IN, 100 * i + 3, 4096);
	run(&b);
	CHECK_EQ(used_idx(0), 5);
	for (unsigned i = 0; i < 5; i++) {
		CHECK_EQ(ram[STATUS + i], VIRTIO_BLK_S_OK);
		CHECK(data_is(i, 100 * i + 3, 4096, 0));
		CHECK_EQ(used_elem(0, i).len, 4097);
	}
	CHECK_EQ(b.disk.file.kicks, 1);           /* five requests, one io_uring_enter */
	CHECK_EQ(b.disk.file.submitted, 5);
	CHECK_EQ(b.disk.file.sync_ops, 0);
	CHECK_EQ(irqs, 1);                        /* used_event 0: the first completion asked for one */
	virtio_dev_destroy(&b.vdev);
}

/* The ring's completions of a pass go to the used ring together (blk_reap: one store of the
 * index the driver polls); requests answered at once on the way go straight in. Every request
 * is answered once, with its own length, whichever way it went. */
TEST(a_pass_answers_ring_and_immediate_requests_each_once)
{
	static struct virtio_blk b;
	REQUIRE_EQ(setup(&b, raw_image("m.raw", 2), DISK_FORMAT_RAW, VIRTIO_BIT(VIRTIO_F_EVENT_IDX)), 0);
	queue_req(0, VIRTIO_BLK_T_IN, 3, 4096);              /* the ring */
	queue_req(1, VIRTIO_BLK_T_IN, DISK / 512, 512);       /* past the end: IOERR at once */
	queue_req(2, VIRTIO_BLK_T_IN, 9, 1024);              /* the ring */
	queue_req(3, VIRTIO_BLK_T_FLUSH, 0, 512);            /* the ring too */
	run(&b);
	REQUIRE_EQ(used_idx(0), 4);
	uint32_t len_of[4] = { 0 };
	unsigned seen[4] = { 0 };
	for (unsigned i = 0; i < 4; i++) {
		struct virtq_used_elem e = used_elem(0, i);
		REQUIRE(e.id % 3 == 0 && e.id / 3 < 4);
		seen[e.id / 3]++;
		len_of[e.id / 3] = e.len;
	}
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(seen[i], 1);
	CHECK_EQ(len_of[0], 4097);
	CHECK_EQ(len_of[1], 1);
	CHECK_EQ(len_of[2], 1025);
	CHECK_EQ(len_of[3], 1);
	CHECK_EQ(ram[STATUS + 0], VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[STATUS + 1], VIRTIO_BLK_S_IOERR);
	CHECK_EQ(ram[STATUS + 2], VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[STATUS + 3], VIRTIO_BLK_S_OK);
	CHECK(data_is(0, 3, 4096, 2) && data_is(2, 9, 1024, 2));
	CHECK_EQ(b.disk.file.submitted, 3);
	CHECK_EQ(b.nreaped, 0);
	CHECK_EQ(b.inflight, 0);
	virtio_dev_destroy(&b.vdev);
}

TEST(request_slots_are_made_when_needed_and_used_again)
{
	static struct virtio_blk b;
	REQUIRE_EQ(setup(&b, raw_image("s.raw", 0), DISK_FORMAT_RAW, 0), 0);
	CHECK_EQ(b.nreqs, 1);                     /* one made with the device */
	for (unsigned i = 0; i < 4; i++)
		queue_req(i, VIRTIO_BLK_T_IN, i, 512);
	run(&b);
	CHECK_EQ(used_idx(0), 4);
	CHECK_EQ(b.nreqs, 5);                     /* those in flight at once, and the one in hand
	                                             when the ring ran dry */
	CHECK_EQ(b.inflight, 0);
	for (unsigned i = 0; i < 3; i++)
		queue_req(i, VIRTIO_BLK_T_IN, 50 + i, 512);
	run(&b);
	CHECK_EQ(used_idx(0), 7);
	CHECK_EQ(b.nreqs, 5);                     /* the given-back ones again */
	for (unsigned i = 0; i < 3; i++)
		CHECK(data_is(i, 50 + i, 512, 0));
	virtio_dev_destroy(&b.vdev);
	CHECK_EQ(b.nreqs, 0);
}

TEST(the_event_index_decides_the_interrupt)
{
	static struct virtio_blk b;
	REQUIRE_EQ(setup(&b, raw_image("e.raw", 1), DISK_FORMAT_RAW, VIRTIO_BIT(VIRTIO_F_EVENT_IDX)), 0);
	uint16_t *used_event = &qavail(0)[2 + QS];
	*used_event = 0xffff;                     /* a polling driver: never */
	queue_req(0, VIRTIO_BLK_T_IN, 7, 512);
	run(&b);
	queue_req(1, VIRTIO_BLK_T_IN, 8, 512);
	run(&b);
	CHECK_EQ(used_idx(0), 2);
	CHECK_EQ(irqs, 1);                        /* the device's first, before it knew */
	*used_event = 2;                          /* interrupt once the third is used */
	queue_req(2, VIRTIO_BLK_T_IN, 9, 512);
	run(&b);
	CHECK_EQ(irqs, 2);
	virtio_dev_destroy(&b.vdev);
}

TEST(writes_reach_the_file)
{
	static struct virtio_blk b;
	const char *path = raw_image("w.raw", 2);
	REQUIRE_EQ(setup(&b, path, DISK_FORMAT_RAW, 0), 0);
	memset(ram + DATA, 0xc3, 8192);
	queue_req(0, VIRTIO_BLK_T_OUT, 16, 8192);
	queue_req(1, VIRTIO_BLK_T_FLUSH, 0, 0);
	run(&b);
	CHECK_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[STATUS + 1], VIRTIO_BLK_S_OK);
	/* the flush on the ring; the write learned where buffered writes run (raw_write.c) */
	CHECK_EQ(b.disk.file.sync_ops, 1);
	CHECK(b.disk.file.wr_mode == RAW_WR_RING || b.disk.file.wr_mode == RAW_WR_INLINE);
	virtio_dev_destroy(&b.vdev);
	uint8_t buf[8192];
	int fd = open(path, O_RDONLY);
	CHECK_EQ(pread(fd, buf, sizeof(buf), 16 * 512), 8192);
	close(fd);
	CHECK(buf[0] == 0xc3 && buf[8191] == 0xc3);
}

/* Write slot i's (i < 5) 4 KiB at sector 8 i, filled with i + 1, and run: where it went. */
static void write_slot(struct virtio_blk *b, unsigned i, uint64_t *ring, uint64_t *sync)
{
	uint64_t r0 = b->disk.file.submitted, s0 = b->disk.file.sync_ops;
	memset(ram + DATA + 0x10000ull * i, (int)i + 1, 4096);
	queue_req(i, VIRTIO_BLK_T_OUT, 8 * i, 4096);
	run(b);
	*ring = b->disk.file.submitted - r0;
	*sync = b->disk.file.sync_ops - s0;
}

TEST(buffered_writes_run_on_the_io_thread_where_io_uring_would_punt_them)
{
	static struct virtio_blk b;
	const char *path = raw_image("p.raw", 0);
	REQUIRE_EQ(setup(&b, path, DISK_FORMAT_RAW, 0), 0);
	REQUIRE(disk_async(&b.disk));
	struct raw_file *f = &b.disk.file;
	uint64_t ring, sync;
	write_slot(&b, 0, &ring, &sync);
	CHECK(ring == 0 && sync == 1); /* the first one learns, on this thread */
	REQUIRE(f->wr_mode != RAW_WR_PROBE);
	write_slot(&b, 1, &ring, &sync);
	CHECK_EQ(ring, f->wr_mode == RAW_WR_RING ? 1 : 0);
	/* On a file system without non-blocking buffered writes (ext4, tmpfs), as if learned. */
	f->wr_mode = RAW_WR_INLINE;
	uint64_t inl = f->wr_inline;
	write_slot(&b, 2, &ring, &sync);
	CHECK(ring == 0 && sync == 1);
	CHECK_EQ(f->wr_inline, inl + 1);
	/* A slow one (dirty throttling): the ring for 1 s, then inline again. */
	raw_write_timed(f, 50000000, 4096, now_ns());
	CHECK_EQ(f->wr_slow, 1);
	write_slot(&b, 3, &ring, &sync);
	CHECK(ring == 1 && sync == 0);
	f->wr_resume_ns = now_ns() - 1;
	write_slot(&b, 4, &ring, &sync);
	CHECK(ring == 0 && sync == 1);
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(ram[STATUS + i], VIRTIO_BLK_S_OK);
	/* Reads and flushes stay on the ring. */
	uint64_t r0 = f->submitted, s0 = f->sync_ops;
	queue_req(0, VIRTIO_BLK_T_IN, 0, 4096);
	queue_req(1, VIRTIO_BLK_T_FLUSH, 0, 0);
	run(&b);
	CHECK(f->submitted - r0 == 2 && f->sync_ops == s0);
	CHECK(ram[STATUS] == VIRTIO_BLK_S_OK && ram[STATUS + 1] == VIRTIO_BLK_S_OK);
	virtio_dev_destroy(&b.vdev);
	int fd = open(path, O_RDONLY);
	for (unsigned i = 0; i < 5; i++) {
		uint8_t buf[4096];
		CHECK_EQ(pread(fd, buf, sizeof(buf), 8 * 512 * i), 4096);
		CHECK(buf[0] == i + 1 && buf[4095] == i + 1);
	}
	close(fd);
}

TEST(slow_inline_writes_pause_them_longer_each_time)
{
	struct raw_file f = { .wr_mode = RAW_WR_INLINE };
	uint64_t t = 1000000000000ull, s = 1000000000ull;
	raw_write_timed(&f, 9000000, 0, t); /* under 10 ms: preempted, maybe */
	raw_write_timed(&f, 10500000, 1 << 20, t); /* 1 MiB in 10.5 ms: under 10 ms + 1 ns a byte */
	CHECK(f.wr_inline == 2 && f.wr_slow == 0 && f.wr_resume_ns == 0);
	raw_write_timed(&f, 12000000, 1 << 20, t);
	CHECK(f.wr_slow == 1 && f.wr_resume_ns == t + s);
	uint64_t want = 2;
	for (unsigned i = 0; i < 8; i++) { /* 2, 4, ... 64 s, and no longer */
		t += 70 * s;
		raw_write_timed(&f, 20000000, 0, t);
		CHECK_EQ(f.wr_resume_ns, t + want * s);
		want = want < 64 ? 2 * want : 64;
	}
	t += 300 * s; /* a long quiet spell is forgotten */
	raw_write_timed(&f, 20000000, 0, t);
	CHECK_EQ(f.wr_resume_ns, t + s);
}

/* A qcow2 overlay NAME.qcow2 over the raw image NAME.raw (raw_image, seed): its path, or NULL. */
static const char *overlay(const char *name, unsigned seed)
{
	char n[64], err[256];
	snprintf(n, sizeof(n), "%s.raw", name);
	struct qcow2_create_opts o = { .backing = raw_image(n, seed), .backing_format = "raw" };
	snprintf(n, sizeof(n), "%s.qcow2", name);
	const char *top = file(n);
	return qcow2_create(top, &o, err, sizeof(err)) == 0 ? top : NULL;
}

/* The same, opened for writing in d: its path, or NULL. */
static const char *open_overlay(struct disk *d, const char *name, unsigned seed)
{
	const char *top = overlay(name, seed);
	struct disk_options w = { .format = DISK_FORMAT_QCOW2 };
	return top && disk_open(d, top, &w) == 0 ? top : NULL;
}

TEST(qcow2_reads_from_the_base_and_rewrites_take_the_ring)
{
	static struct virtio_blk b;
	const char *top = overlay("q", 5);
	REQUIRE(top);
	REQUIRE_EQ(setup(&b, top, DISK_FORMAT_QCOW2, 0), 0);
	REQUIRE(b.disk.qcow2 && disk_async(&b.disk));
	/* Reads of unallocated clusters: the base's bytes, through the ring. */
	queue_req(0, VIRTIO_BLK_T_IN, 1000, 4096);
	queue_req(1, VIRTIO_BLK_T_IN, 3000, 65536);
	run(&b);
	CHECK(data_is(0, 1000, 4096, 5) && data_is(1, 3000, 65536, 5));
	CHECK_EQ(b.disk.file.submitted, 2);
	CHECK_EQ(qcow2_stats(b.disk.qcow2)->backing_reads, 2);
	/* A first write allocates (synchronous: copy-on-write and metadata)... */
	memset(ram + DATA + 0x20000, 0x77, 4096);
	queue_req(2, VIRTIO_BLK_T_OUT, 1000, 4096);
	run(&b);
	CHECK_EQ(ram[STATUS + 2], VIRTIO_BLK_S_OK);
	CHECK(qcow2_stats(b.disk.qcow2)->allocs >= 1);
	CHECK_EQ(b.disk.file.submitted, 2);
	/* ... a rewrite of that cluster, and a read of it, go through the ring. */
	memset(ram + DATA + 0x30000, 0x99, 4096);
	queue_req(3, VIRTIO_BLK_T_OUT, 1008, 4096);
	run(&b);
	queue_req(4, VIRTIO_BLK_T_IN, 1000, 12288); /* to the end of the cluster */
	run(&b);
	CHECK_EQ(b.disk.file.submitted, 4);
	CHECK_EQ(ram[STATUS + 3], VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[STATUS + 4], VIRTIO_BLK_S_OK);
	uint8_t *got = ram + DATA + 0x40000;
	CHECK(got[0] == 0x77 && got[4095] == 0x77 && got[4096] == 0x99 && got[8191] == 0x99);
	/* Past the rewritten bytes: the cluster holds the base's old content (copy-on-write). */
	CHECK_EQ(got[8192], (uint8_t)((1000 + 16 + 5) & 0xff));
	virtio_dev_destroy(&b.vdev);
	unlink(top);
}

/* First writes of part of clusters over a base with data copy the rest of each cluster: the
 * requests of one notification are answered at once, and their copies are made durable by
 * one commit (a sync, then the entries) that the I/O thread does not wait for; a pause waits
 * for it, after which another process reads every byte back. */
TEST(qcow2_copy_on_write_of_a_batch_is_committed_once)
{
	static struct virtio_blk b;
	const char *top = overlay("c", 9);
	REQUIRE(top);
	REQUIRE_EQ(setup(&b, top, DISK_FORMAT_QCOW2, 0), 0);
	for (unsigned i = 0; i < 5; i++) { /* 4 KiB into each of five clusters (128 sectors each) */
		memset(ram + DATA + 0x10000ull * i, 0x40 + i, 4096);
		queue_req(i, VIRTIO_BLK_T_OUT, 128 * (2 * i + 1) + 8 * i, 4096);
	}
	notify(&b.vdev, 0);
	CHECK_EQ(used_idx(0), 5);
	for (unsigned i = 0; i < 5; i++)
		CHECK_EQ(ram[STATUS + i], VIRTIO_BLK_S_OK);
	const struct qcow2_stats *st = qcow2_stats(b.disk.qcow2);
	CHECK_EQ(st->allocs >= 5, 1);
	CHECK_EQ(st->cow_syncs, 1); /* five copies, one commit */
	pthread_mutex_lock(&b.vdev.lock);
	b.vdev.ops->quiesce(&b.vdev); /* the commit is through */
	pthread_mutex_unlock(&b.vdev.lock);
	CHECK_EQ(st->cow_syncs, 1);
	/* Another opener sees what the guest wrote and the base's bytes around it. */
	struct disk d;
	struct disk_options ro = { .format = DISK_FORMAT_QCOW2, .read_only = true, .no_lock = true };
	REQUIRE_EQ(disk_open(&d, top, &ro), 0);
	for (unsigned i = 0; i < 5; i++) {
		static uint8_t buf[65536];
		uint64_t cl = 128ull * (2 * i + 1);
		struct iovec v = { buf, sizeof(buf) };
		CHECK_EQ(disk_sync(&d, RAW_READ, cl * 512, &v, 1), (int64_t)sizeof(buf));
		for (uint32_t k = 0; k < sizeof(buf); k++) {
			uint64_t sector = cl + k / 512;
			bool mine = sector >= cl + 8 * i && sector < cl + 8 * i + 8;
			uint8_t want = mine ? (uint8_t)(0x40 + i) : (uint8_t)((sector + 9) & 0xff);
			if (buf[k] != want) {
				CHECK_EQ(buf[k], want);
				break;
			}
		}
	}
	disk_close(&d);
	virtio_dev_destroy(&b.vdev);
	unlink(top);
}

/* Without io_uring (made unavailable here), held copy-on-write is committed in line: the
 * held writes are read back before the commit, and after it another opener sees them. */
TEST(qcow2_held_copy_on_write_without_a_ring)
{
	struct disk d;
	const char *top = open_overlay(&d, "i", 3);
	REQUIRE(top);
	struct qcow2 *q = d.qcow2;
	if (q->commit_ring_up) {
		io_uring_queue_exit(&q->commit_ring);
		q->commit_ring_up = false;
	}
	static uint8_t buf[65536];
	struct iovec v = { buf, 4096 };
	for (unsigned i = 0; i < 3; i++) {
		memset(buf, 0x60 + i, 4096);
		CHECK_EQ(disk_write_held(&d, (2ull * i + 1) * 65536 + 4096, &v, 1), 4096);
	}
	CHECK_EQ(qcow2_stats(q)->cow_syncs, 0);
	v.iov_len = 65536;
	CHECK_EQ(disk_sync(&d, RAW_READ, 65536, &v, 1), 65536); /* held: read through the record */
	CHECK(buf[0] == (uint8_t)((128 + 3) & 0xff) && buf[4096] == 0x60 && buf[8192] == (uint8_t)((128 + 16 + 3) & 0xff));
	CHECK_EQ(qcow2_stats(q)->cow_syncs, 0); /* a read leaves the commit to the batch's end */
	CHECK_EQ(disk_commit_start(&d), 0);
	CHECK_EQ(qcow2_stats(q)->cow_syncs, 1);
	struct disk r;
	struct disk_options ro = { .format = DISK_FORMAT_QCOW2, .read_only = true, .no_lock = true };
	REQUIRE_EQ(disk_open(&r, top, &ro), 0);
	for (unsigned i = 0; i < 3; i++) {
		CHECK_EQ(disk_sync(&r, RAW_READ, (2ull * i + 1) * 65536, &v, 1), 65536);
		CHECK(buf[4095] == (uint8_t)(((2 * i + 1) * 128 + 7 + 3) & 0xff) && buf[4096] == 0x60 + i &&
		      buf[8191] == 0x60 + i && buf[8192] == (uint8_t)(((2 * i + 1) * 128 + 16 + 3) & 0xff));
	}
	disk_close(&r);
	disk_close(&d);
	unlink(top);
}

/* An image's descriptor made a pipe for a while: syncs and positioned writes on it fail. */
struct swapped {
	int fd, saved, pipe[2];
};

/* q's rings put back on the plain descriptor (they hold a second open of the image as their
 * registered file, which the pipe would not reach). */
static void rings_on_the_descriptor(struct qcow2 *q)
{
	q->commit_fixed = q->sync_fixed = false;
}

static bool pipe_in_place(struct swapped *sw, int fd)
{
	sw->fd = fd;
	sw->saved = dup(fd);
	return sw->saved >= 0 && pipe(sw->pipe) == 0 && dup2(sw->pipe[1], fd) == fd;
}

static bool put_back(struct swapped *sw)
{
	bool ok = dup2(sw->saved, sw->fd) == sw->fd;
	close(sw->saved);
	close(sw->pipe[0]);
	close(sw->pipe[1]);
	return ok;
}

/* A commit that fails (here the file stops taking syncs and writes: a pipe in its place) is
 * answered to the next guest FLUSH, once: the kernel would report a real writeback error to
 * the commit's own sync, not to the flush's. */
TEST(qcow2_a_failed_commit_fails_the_next_flush)
{
	struct disk d;
	const char *top = open_overlay(&d, "f", 4);
	REQUIRE(top);
	struct qcow2 *q = d.qcow2;
	static uint8_t buf[4096];
	memset(buf, 0x5a, sizeof(buf));
	struct iovec v = { buf, sizeof(buf) };
	CHECK_EQ(disk_write_held(&d, 65536 + 4096, &v, 1), 4096);
	struct swapped sw;
	rings_on_the_descriptor(q);
	REQUIRE(pipe_in_place(&sw, q->fd));
	CHECK(disk_commit(&d) < 0);               /* its sync and its entry fail */
	REQUIRE(put_back(&sw));
	CHECK(disk_sync(&d, RAW_FLUSH, 0, NULL, 0) < 0);
	CHECK_EQ(disk_sync(&d, RAW_FLUSH, 0, NULL, 0), 0);
	disk_close(&d);
	unlink(top);
}

/* A ranged sync that fails on the ring (the file a pipe for a moment) is the caller's error,
 * not a reason to sync again in line, which would not see the error any more. */
TEST(qcow2_a_failed_ranged_sync_is_an_error)
{
	struct disk d;
	const char *top = open_overlay(&d, "r", 6);
	REQUIRE(top);
	struct qcow2 *q = d.qcow2;
	struct swapped sw;
	rings_on_the_descriptor(q);
	REQUIRE(pipe_in_place(&sw, q->fd));
	CHECK(qcow2_sync_range(q, 0, 65536) < 0);
	REQUIRE(put_back(&sw));
	disk_sync(&d, RAW_FLUSH, 0, NULL, 0); /* answers the kept error */
	disk_close(&d);
	unlink(top);
}

TEST(the_poll_window_follows_the_idle_gaps)
{
	struct blk_poll p;
	blk_poll_init(&p, 0, 1);
	CHECK(!p.adaptive);                       /* one CPU: spinning would keep the vCPU away */
	blk_poll_init(&p, 20, 4);
	CHECK(!p.adaptive);                       /* poll=20: fixed */
	CHECK_EQ(p.fixed_ns, 20000);
	blk_poll_init(&p, 0, 2);
	REQUIRE(p.adaptive);
	CHECK_EQ(p.cur_ns, 0);                    /* nothing learnt yet: no polling */
	blk_poll_woke(&p, 5000);                  /* a pass that did not follow a sleep */
	CHECK_EQ(p.cur_ns, 0);
	blk_poll_slept(&p, 1000000);
	blk_poll_woke(&p, 1001000);               /* the driver came back 1 us later */
	CHECK_EQ(p.cur_ns, BLK_POLL_MIN_NS);
	blk_poll_slept(&p, 2000000);
	blk_poll_woke(&p, 2003000);               /* 3 us after a 4 us window spent in vain */
	CHECK_EQ(p.cur_ns, 14000);
	blk_poll_slept(&p, 3000000);
	blk_poll_woke(&p, 3030000);               /* 30 + 14 us: the window stops at the maximum */
	CHECK_EQ(p.cur_ns, BLK_POLL_MAX_NS);
	blk_poll_slept(&p, 4000000);
	blk_poll_woke(&p, 5000000);               /* an idle millisecond: polling stops */
	CHECK_EQ(p.cur_ns, 0);
}

TEST(a_poll_ends_at_new_requests_or_completions_and_at_its_window)
{
	static struct virtio_blk b;
	REQUIRE_EQ(setup(&b, raw_image("p.raw", 2), DISK_FORMAT_RAW, VIRTIO_BIT(VIRTIO_F_EVENT_IDX)), 0);
	REQUIRE(disk_async(&b.disk));
	struct blk_poll p;
	blk_poll_init(&p, 2000, 1);               /* 2 ms fixed */
	struct virtq *vq = &b.vdev.vq[0];
	uint64_t t0 = now_ns();
	CHECK(!blk_poll_wait(&p, vq, &b.disk));   /* nothing comes: the whole window */
	CHECK(now_ns() - t0 >= 2000000);
	CHECK_EQ(p.hits, 0);
	/* a completion on the disk's ring (the device's own read, not yet reaped) */
	struct iovec iov = { ram + DATA, 512 };
	REQUIRE_EQ(disk_queue(&b.disk, RAW_READ, 0, &iov, 1, NULL), 0);
	REQUIRE_EQ(disk_kick(&b.disk), 0);
	blk_poll_init(&p, 1000000, 1);            /* 1 s: ends at the completion */
	t0 = now_ns();
	CHECK(blk_poll_wait(&p, vq, &b.disk));
	CHECK(now_ns() - t0 < 500000000ull);
	CHECK_EQ(disk_reap(&b.disk, NULL, NULL, true), 1);
	CHECK(!disk_has_completions(&b.disk));
	/* a request the driver published without a notification */
	queue_req(0, VIRTIO_BLK_T_IN, 3, 512);
	CHECK(blk_poll_wait(&p, vq, &b.disk));
	CHECK_EQ(p.hits, 2);
	run(&b);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
	virtio_dev_destroy(&b.vdev);
}

int main(int argc, char **argv)
{
	return fake_blk_main(argc, argv);
}
