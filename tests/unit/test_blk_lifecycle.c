/* virtio-blk request lifecycle over raw images, cases found by a review (2026-11-24): a
 * request longer than one kernel transfer (MAX_RW_COUNT, 2 GiB - 4 KiB: io_uring and
 * pread/pwrite hand back at most that much), through the ring and through O_DIRECT's bounce
 * buffer; a write still in the kernel when the driver resets the device, with a disk copy
 * running; a header changed between the rate limiter's look and the handler's; write-zeroes
 * that the limiter did not charge. Each of those failed on the code before its fix. Also: the bounce buffer in pieces, and a path swap with
 * writes in flight. */
#include "unit.h"

#define MEM_SIZE (48u << 20)
#include "fake_ring.h"
#define DISK (4u << 20)
#include "fake_blk.h"

#include "vm/device_params.h"
#include "block/dirty.h"
#include "devices/virtio/blk/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#define BIG_BUF (16u << 20)     /* guest buffer every data descriptor of a big request names */
#define SEG (16u << 20)         /* bytes per data descriptor */
#define NSEG 130u               /* 2080 MiB in all: more than one kernel transfer */
#define BIG_DISK ((uint64_t)SEG * NSEG + (1u << 20))
#define TABLE 0x30000           /* the indirect descriptor table */

static void no_irq(void *opaque, int q)
{
	(void)opaque;
	(void)q;
}

static const struct virtio_transport_ops transport = { no_irq };

/* A sparse raw image of BIG_DISK bytes whose last data segment, [SEG (NSEG-1), SEG NSEG),
 * holds 0xa5 (the rest reads as zeroes). */
static const char *big_image(const char *name)
{
	const char *p = file(name);
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || ftruncate(fd, (off_t)BIG_DISK) < 0)
		abort();
	static uint8_t chunk[1u << 20];
	memset(chunk, 0xa5, sizeof(chunk));
	for (uint64_t o = 0; o < SEG; o += sizeof(chunk))
		if (pwrite(fd, chunk, sizeof(chunk), (off_t)((uint64_t)SEG * (NSEG - 1) + o)) != (ssize_t)sizeof(chunk))
			abort();
	close(fd);
	return p;
}

/* A drive on path, its driver started with indirect descriptors. O_DIRECT where the test
 * needs it: a file system without it (tmpfs before Linux 6.6) skips the test. */
#define START_DIRECT(b, path, engine)                                                        \
	do {                                                                                 \
		int e_ = start_drive(b, path, true, engine);                                 \
		if (e_ == -EINVAL) {                                                         \
			printf("  (skipped: no O_DIRECT on the file system of %s)\n", dir);  \
			return;                                                              \
		}                                                                            \
		REQUIRE_EQ(e_, 0);                                                           \
	} while (0)

static int start_drive(struct virtio_blk *b, const char *path, bool direct, int engine)
{
	mem_setup();
	struct drive_config cfg = { .drive_id = "t", .path_on_host = (char *)path, .format = DISK_FORMAT_RAW,
				    .io_engine = engine, .cache_type = DRIVE_CACHE_WRITEBACK, .direct = direct };
	int err = virtio_blk_create(b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, NULL);
	if (err < 0)
		return err;
	virtio_dev_set_transport(&b->vdev, &transport, NULL);
	start(&b->vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), 1);
	return 0;
}

/* One read of NSEG * SEG bytes from sector 0: header, NSEG data descriptors all naming the
 * guest buffer at buf (they overlap: what stays there is the last segment's), status; in an
 * indirect table. */
static void queue_big_read(uint64_t buf)
{
	uint8_t *h = ram + HDR;
	memset(h, 0, 16);
	uint32_t type = VIRTIO_BLK_T_IN;
	memcpy(h, &type, 4);
	ram[STATUS] = 0xff;
	struct virtq_desc *t = (struct virtq_desc *)(ram + TABLE);
	t[0] = (struct virtq_desc){ HDR, 16, VIRTQ_DESC_F_NEXT, 1 };
	for (unsigned i = 0; i < NSEG; i++)
		t[1 + i] = (struct virtq_desc){ buf, SEG, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(2 + i) };
	t[1 + NSEG] = (struct virtq_desc){ STATUS, 1, VIRTQ_DESC_F_WRITE, 0 };
	set_desc(0, 0, TABLE, 16 * (NSEG + 2), VIRTQ_DESC_F_INDIRECT, 0);
	publish(0, 0);
}

static bool buf_is(uint64_t buf, uint8_t v)
{
	for (uint32_t k = 0; k < SEG; k++)
		if (ram[buf + k] != v)
			return false;
	return true;
}

/* io_uring transfers at most MAX_RW_COUNT per request: the rest of a longer read must still
 * be read, not answered with IOERR (the synchronous path loops; the device offers no
 * size_max, so such a request is the driver's right). */
TEST(a_read_longer_than_one_kernel_transfer_completes_through_the_ring)
{
	static struct virtio_blk b;
	START_DIRECT(&b, big_image("big_async.raw"), DRIVE_IO_ASYNC);
	REQUIRE(disk_async(&b.disk));
	uint64_t buf = 16u << 20; /* aligned: the ring takes it (O_DIRECT, no page cache) */
	memset(ram + buf, 0x11, SEG);
	queue_big_read(buf);
	fake_blk_run(&b);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
	CHECK_EQ(used_elem(0, 0).len, (uint32_t)((uint64_t)SEG * NSEG + 1));
	CHECK(buf_is(buf, 0xa5));
	CHECK_EQ(b.errors, 0);
	virtio_dev_destroy(&b.vdev);
}

/* O_DIRECT with a buffer it cannot take goes through the bounce buffer: one pread of the whole
 * range came back short at MAX_RW_COUNT and the rest was handed to the guest as zeroes with
 * status OK; and the buffer was as large as the request (a driver's overlapping descriptors
 * cost it 16 MiB, petrel 2 GiB). */
TEST(an_unaligned_o_direct_read_past_one_kernel_transfer_returns_the_file_data)
{
	static struct virtio_blk b;
	START_DIRECT(&b, big_image("big_bounce.raw"), DRIVE_IO_SYNC);
	uint64_t buf = (16u << 20) + 8; /* not 512-aligned: bounced */
	memset(ram + buf, 0x11, SEG);
	struct rusage before, after;
	getrusage(RUSAGE_SELF, &before);
	queue_big_read(buf);
	fake_blk_run(&b);
	getrusage(RUSAGE_SELF, &after);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
	CHECK(buf_is(buf, 0xa5));
	/* the bounce buffer is bounded, not the request's size */
	CHECK((uint64_t)(after.ru_maxrss - before.ru_maxrss) < (256u << 10) /* KiB */);
	virtio_dev_destroy(&b.vdev);
}

/* A write still in the kernel when the driver resets the device, while a disk copy runs: the
 * write was marked when submitted, the copy took the chunk (and read it before the write
 * landed), then the reset dropped the completion without marking the chunk again, so the
 * copy never sent the chunk's new bytes (dirty.h: marked when submitted and again when it
 * completes). The write must be on the ring when the reset comes: an O_DIRECT write into a
 * hole (the file system allocates: io_uring hands it to a worker) is, nearly always; the test
 * tries a few times and skips if the kernel always finished first. */
TEST(a_write_dropped_by_a_reset_marks_its_chunk_again)
{
	static struct virtio_blk b;
	const char *p = file("reset_dirty.raw");
	int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0 && ftruncate(fd, 64u << 20) == 0);
	close(fd);
	START_DIRECT(&b, p, DRIVE_IO_ASYNC);
	REQUIRE(disk_async(&b.disk));
	struct blk_dirty *dirty = blk_dirty_new(64u << 20);
	REQUIRE(dirty);
	blk_dirty_enable(dirty, true);
	__atomic_store_n(&b.dirty, dirty, __ATOMIC_RELEASE);
	uint64_t taken[(64u << 20) / BLK_DIRTY_CHUNK / 64 + 1];
	bool tried = false;
	for (unsigned attempt = 0; attempt < 50 && !tried; attempt++) {
		uint64_t sector = (uint64_t)attempt * (1u << 20) / 512; /* a fresh hole each time */
		queue_req(0, VIRTIO_BLK_T_OUT, sector, 65536);
		notify(&b.vdev, 0);
		blk_dirty_take(dirty, taken); /* the copy takes the chunk (and reads it) */
		pthread_mutex_lock(&b.vdev.lock);
		tried = disk_inflight(&b.disk) > 0;
		virtio_set_status(&b.vdev, 0); /* the driver resets the device */
		pthread_mutex_unlock(&b.vdev.lock);
		if (tried) {
			uint64_t chunk = sector * 512 / BLK_DIRTY_CHUNK;
			blk_dirty_take(dirty, taken);
			CHECK(taken[chunk / 64] >> (chunk % 64) & 1);
		}
		CHECK_EQ(b.inflight, 0);
		memset(ram + qdesc(0), 0, 0x3000); /* the driver sets its rings up again */
		start(&b.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC), 1);
	}
	if (!tried)
		printf("  (skipped: every write finished before the reset)\n");
	virtio_dev_destroy(&b.vdev); /* frees the dirty map */
}

/* The rate limiter read the request's header to charge it, and the request was then handled
 * from a second read of the header: a driver that changed the header in between (another
 * vCPU) had a FLUSH charged (no bytes) and a 64 KiB read done. Here a thread flips the type
 * between FLUSH and IN while the bandwidth bucket holds one read per round (and refills in an
 * hour): more than one read done in a round is a read nobody paid for. */
static volatile bool flipping;

static void *flip_types(void *arg)
{
	(void)arg;
	uint32_t *type = (uint32_t *)(ram + HDR);
	while (__atomic_load_n(&flipping, __ATOMIC_RELAXED)) {
		__atomic_store_n(type, VIRTIO_BLK_T_FLUSH, __ATOMIC_RELAXED);
		for (volatile int k = 0; k < 20; k++)
			;
		__atomic_store_n(type, VIRTIO_BLK_T_IN, __ATOMIC_RELAXED);
		for (volatile int k = 0; k < 20; k++)
			;
	}
	return NULL;
}

TEST(the_rate_limiter_charges_the_request_that_is_handled)
{
	static struct virtio_blk b;
	mem_setup();
	struct rate_limiter_config rl = { .present = true,
					  .bandwidth = { .present = true, .size = 65536, .refill_time = 3600000 } };
	struct drive_config cfg = { .drive_id = "t", .path_on_host = (char *)raw_image("rl.raw", 0),
				    .format = DISK_FORMAT_RAW, .io_engine = DRIVE_IO_SYNC,
				    .cache_type = DRIVE_CACHE_WRITEBACK, .rate_limiter = rl };
	REQUIRE_EQ(virtio_blk_create(&b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, NULL), 0);
	virtio_dev_set_transport(&b.vdev, &transport, NULL);
	start(&b.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1), 1);
	flipping = true;
	pthread_t t;
	REQUIRE_EQ(pthread_create(&t, NULL, flip_types, NULL), 0);
	unsigned unpaid = 0;
	while (!__atomic_load_n((uint32_t *)(ram + HDR), __ATOMIC_RELAXED))
		usleep(100); /* the flipper runs */
	for (unsigned round = 0; round < 20000; round++) {
		uint64_t reads = b.reads;
		for (unsigned k = 0; k < 8; k++) {
			uint16_t before = used_idx(0);
			/* queue_req's header, but the flipper owns the type: the descriptors only */
			uint16_t d = (uint16_t)(3 * (k % 5));
			set_desc(0, d, HDR, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
			set_desc(0, d + 1, DATA, 65536, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(d + 2));
			set_desc(0, d + 2, STATUS, 1, VIRTQ_DESC_F_WRITE, 0);
			publish(0, d);
			notify(&b.vdev, 0);
			if (used_idx(0) == before)
				break; /* throttled: the request waits in the ring */
		}
		if (b.reads - reads > 1)
			unpaid++;
		/* next round: drop what waits, a full bucket, the limiter's timer seen */
		pthread_mutex_lock(&b.vdev.lock);
		virtio_set_status(&b.vdev, 0);
		pthread_mutex_unlock(&b.vdev.lock);
		memset(ram + qdesc(0), 0, 0x3000);
		REQUIRE_EQ(virtio_blk_set_rate_limiter(&b, &rl), 0);
		rate_limiter_timer_event(&b.rl);
		start(&b.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1), 1);
	}
	flipping = false;
	pthread_join(t, NULL);
	CHECK_EQ(unpaid, 0);
	virtio_dev_destroy(&b.vdev);
}

/* The bounce buffer in pieces: an unaligned O_DIRECT write of several pieces, not starting at
 * a piece's start, lands byte for byte, and reads back the same through the bounce buffer. */
static void queue_one(uint16_t d, uint32_t type, uint64_t sector, uint64_t buf, uint32_t len, unsigned slot)
{
	uint8_t *h = ram + HDR + 16 * slot;
	memset(h, 0, 16);
	memcpy(h, &type, 4);
	memcpy(h + 8, &sector, 8);
	ram[STATUS + slot] = 0xff;
	uint16_t wr = type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0;
	set_desc(0, d, HDR + 16 * slot, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
	set_desc(0, d + 1, buf, len, VIRTQ_DESC_F_NEXT | wr, (uint16_t)(d + 2));
	set_desc(0, d + 2, STATUS + slot, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(0, d);
}

TEST(an_unaligned_o_direct_write_in_pieces_reaches_the_file)
{
	static struct virtio_blk b;
	const char *p = raw_image("pieces.raw", 0);
	START_DIRECT(&b, p, DRIVE_IO_SYNC);
	const uint32_t len = (3u << 20) + 1024;
	const uint64_t sector = 3, src = (4u << 20) + 8, dst = (12u << 20) + 24;
	for (uint32_t k = 0; k < len; k++)
		ram[src + k] = (uint8_t)(k * 7 + 1);
	queue_one(0, VIRTIO_BLK_T_OUT, sector, src, len, 0);
	fake_blk_run(&b);
	CHECK_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
	queue_one(3, VIRTIO_BLK_T_IN, sector, dst, len, 1);
	fake_blk_run(&b);
	CHECK_EQ(ram[STATUS + 1], VIRTIO_BLK_S_OK);
	CHECK(memcmp(ram + src, ram + dst, len) == 0);
	virtio_dev_destroy(&b.vdev);
	/* the file: the sectors around untouched, the range written */
	static uint8_t back[(3u << 20) + 2048];
	int fd = open(p, O_RDONLY);
	REQUIRE(fd >= 0);
	REQUIRE_EQ(pread(fd, back, sizeof(back), (off_t)(sector - 1) * 512), (ssize_t)sizeof(back));
	close(fd);
	bool before = true, after = true;
	for (unsigned k = 0; k < 512; k++) {
		before &= back[k] == (uint8_t)(sector - 1);
		after &= back[512 + len + k] == (uint8_t)(sector + len / 512);
	}
	CHECK(before);
	CHECK(after);
	CHECK(memcmp(back + 512, ram + src, len) == 0);
}

/* A write-zeroes request names its ranges in its data, after the limiter's look at the header:
 * it went through as one operation of no bytes, and on a file system without a zeroing
 * fallocate its zeroes were written out at whatever rate the guest liked. Now its bytes are
 * charged when it is handled: after 2 MiB of zeroes a bucket of 1 MiB (refilled in an hour)
 * is in debt and the next read waits. */
TEST(write_zeroes_pay_for_their_bytes)
{
	static struct virtio_blk b;
	mem_setup();
	struct rate_limiter_config rl = { .present = true,
					  .bandwidth = { .present = true, .size = 1u << 20, .refill_time = 3600000 } };
	struct drive_config cfg = { .drive_id = "t", .path_on_host = (char *)raw_image("wz.raw", 3),
				    .format = DISK_FORMAT_RAW, .io_engine = DRIVE_IO_SYNC,
				    .cache_type = DRIVE_CACHE_WRITEBACK, .rate_limiter = rl };
	REQUIRE_EQ(virtio_blk_create(&b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, NULL), 0);
	virtio_dev_set_transport(&b.vdev, &transport, NULL);
	start(&b.vdev, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES), 1);
	uint64_t sector = 0;
	uint32_t nsect = 4096, flags = 0; /* 2 MiB */
	memcpy(ram + DATA, &sector, 8);
	memcpy(ram + DATA + 8, &nsect, 4);
	memcpy(ram + DATA + 12, &flags, 4);
	queue_one(0, VIRTIO_BLK_T_WRITE_ZEROES, 0, DATA, 16, 0);
	fake_blk_run(&b);
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
	queue_one(3, VIRTIO_BLK_T_IN, 0, DATA + 0x10000, 512, 1);
	fake_blk_run(&b);
	CHECK_EQ(used_idx(0), 1); /* waits for the limiter's timer */
	CHECK_EQ(ram[STATUS + 1], 0xff);
	/* a new bucket (PATCH) pays for it */
	REQUIRE_EQ(virtio_blk_set_rate_limiter(&b, &rl), 0);
	rate_limiter_timer_event(&b.rl);
	fake_blk_run(&b);
	CHECK_EQ(used_idx(0), 2);
	CHECK_EQ(ram[STATUS + 1], VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[DATA + 0x10000], 0); /* zeroed */
	virtio_dev_destroy(&b.vdev);
}

/* A path swap with writes still on the old file's ring: they finish there (each with its used
 * entry, none lost), later requests read the new file, the guest hears of the new size. */
static unsigned config_irqs;

static void count_config(void *opaque, int q)
{
	(void)opaque;
	if (q < 0)
		config_irqs++;
}

static const struct virtio_transport_ops config_transport = { count_config };

TEST(a_path_swap_finishes_the_old_files_requests_first)
{
	static struct virtio_blk b;
	const char *old = file("swap_old.raw"), *new = raw_image("swap_new.raw", 9);
	int fd = open(old, O_RDWR | O_CREAT | O_TRUNC, 0644);
	REQUIRE(fd >= 0 && ftruncate(fd, 8u << 20) == 0);
	close(fd);
	START_DIRECT(&b, old, DRIVE_IO_ASYNC);
	virtio_dev_set_transport(&b.vdev, &config_transport, NULL);
	config_irqs = 0;
	for (unsigned i = 0; i < 4; i++) {
		memset(ram + DATA + 0x10000ull * i, 0x40 + (int)i, 65536);
		queue_req(i, VIRTIO_BLK_T_OUT, 2048u * i, 65536); /* holes: the writes go to a worker */
	}
	notify(&b.vdev, 0);
	REQUIRE_EQ(virtio_blk_swap_file(&b, new), 0);
	CHECK_EQ(used_idx(0), 4);
	for (unsigned i = 0; i < 4; i++)
		CHECK_EQ(ram[STATUS + i], VIRTIO_BLK_S_OK);
	CHECK_EQ(b.inflight, 0);
	CHECK_EQ(b.st.capacity, DISK / 512);
	CHECK_EQ(config_irqs, 1);
	queue_req(4, VIRTIO_BLK_T_IN, 7, 512);
	fake_blk_run(&b);
	CHECK_EQ(ram[STATUS + 4], VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[DATA + 0x40000], (uint8_t)(7 + 9));
	virtio_dev_destroy(&b.vdev);
	fd = open(old, O_RDONLY);
	uint8_t byte = 0;
	CHECK_EQ(pread(fd, &byte, 1, (off_t)3 * 2048 * 512 + 100), 1);
	CHECK_EQ(byte, 0x43);
	close(fd);
}

int main(int argc, char **argv)
{
	return fake_blk_main(argc, argv);
}
