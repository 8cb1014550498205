/* Dirty tracking of what virtio-blk and the virtqueue write into guest memory and into the
 * disk's dirty map, when a migration round's harvest (or a disk copy) comes in between: the
 * record must still hold every page and chunk written after it. The other thread's moment is
 * forced, deterministically, by wrapping the calls it would run beside (-Wl,--wrap, see
 * tests/unit/meson.build): disk_kick and disk_sync (the request popped, its read not done),
 * guest_mem_mark_dirty_logged (guest_mem_mark_dirty with the log on: between the used ring's mark and its stores), disk_write_held (a disk
 * copy taking the chunk during a write). Found by a review (2026-11-24); each case failed on
 * the code before. */
#include "unit.h"

#define MEM_SIZE (2u << 20)
#include "fake_ring.h"
#define DISK (4u << 20)
#include "fake_blk.h"

#include "block/dirty.h"
#include "devices/virtio/blk/blk.h"

#include <fcntl.h>
#include <unistd.h>

static uint64_t bits[MEM_SIZE / 4096 / 64];

static bool page_dirty(uint64_t gpa) { return bits[gpa / 4096 / 64] >> (gpa / 4096 % 64) & 1; }

static void log_on(void)
{
	memset(bits, 0, sizeof(bits));
	mem.regions[0].dirty = bits;
	mem.dirty_log = true;
}

static void log_off(void)
{
	mem.dirty_log = false;
	mem.regions[0].dirty = NULL;
}

/* A migration round's harvest: petrel's record taken (and cleared), as guest_mem_fetch_dirty
 * does with __atomic_exchange_n. */
static void harvest(void)
{
	for (unsigned w = 0; w < MEM_SIZE / 4096 / 64; w++)
		__atomic_exchange_n(&bits[w], 0, __ATOMIC_ACQ_REL);
}

/* ---- wrappers: where the migration thread gets to run ---- */
static int harvest_in_kick, harvest_in_sync, harvest_on_used_mark, take_blk_in_write;
static uint8_t sent_copy[4096];      /* the used ring page as the round sent it */
static struct blk_dirty *blkd;
static uint64_t blk_taken[DISK / BLK_DIRTY_CHUNK / 64 + 2];

int __real_disk_kick(struct disk *d);
int __wrap_disk_kick(struct disk *d)
{
	if (harvest_in_kick) /* requests popped (and marked), the read not done yet */
		harvest();
	return __real_disk_kick(d);
}

int64_t __real_disk_sync(struct disk *d, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n);
int64_t __wrap_disk_sync(struct disk *d, enum raw_op op, uint64_t off, const struct iovec *iov, unsigned n)
{
	if (harvest_in_sync)
		harvest();
	return __real_disk_sync(d, op, off, iov, n);
}

void __real_guest_mem_mark_dirty_logged(const struct guest_mem *m, uint64_t gpa, uint64_t len);
void __wrap_guest_mem_mark_dirty_logged(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	__real_guest_mem_mark_dirty_logged(m, gpa, len);
	if (harvest_on_used_mark && gpa == qdesc(0) + 0x2000) {
		/* the round's fetch lands right after mark_used_ring, and the page is read before
		 * virtq_push's memcpy/idx store (I/O thread preempted between the two) */
		harvest();
		memcpy(sent_copy, ram + gpa, 4096);
		harvest_on_used_mark = 0;
	}
}

int64_t __real_disk_write_held(struct disk *d, uint64_t off, const struct iovec *iov, unsigned n);
int64_t __wrap_disk_write_held(struct disk *d, uint64_t off, const struct iovec *iov, unsigned n)
{
	if (take_blk_in_write) /* mig_disks_stage on the migration thread: take + read the chunk */
		blk_dirty_take(blkd, blk_taken);
	return __real_disk_write_held(d, off, iov, n);
}

static void count_irq(void *opaque, int q) { (void)opaque; (void)q; }
static const struct virtio_transport_ops transport = { count_irq };

static int setup(struct virtio_blk *b, const char *path, int engine)
{
	return fake_blk_start(b, path, DISK_FORMAT_RAW, engine, 0, &transport);
}

static void run(struct virtio_blk *b)
{
	fake_blk_run(b);
}

/* Control: a read that succeeds. Harvest after the pop; the push marks data + status again. */
static void read_case(int engine, bool fail, const char *name)
{
	static struct virtio_blk b;
	const char *img = raw_image(name, 0);
	REQUIRE_EQ(setup(&b, img, engine), 0);
	if (fail) /* the image shrinks under the drive (or the host's disk fails): a short read */
		REQUIRE_EQ(truncate(img, 1 << 20), 0);
	log_on();
	harvest_in_kick = engine == DRIVE_IO_ASYNC;
	harvest_in_sync = engine == DRIVE_IO_SYNC;
	queue_req(0, VIRTIO_BLK_T_IN, (2u << 20) / 512, 4096); /* sector at 2 MiB */
	run(&b);
	harvest_in_kick = harvest_in_sync = 0;
	CHECK_EQ(used_idx(0), 1);
	CHECK_EQ(ram[STATUS], fail ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
	/* the status byte was written after the harvest: the record must have its page */
	CHECK(page_dirty(STATUS));
	log_off();
	virtio_dev_destroy(&b.vdev);
}

TEST(blk_ok_read_async_status_page_remarked) { read_case(DRIVE_IO_ASYNC, false, "ok_async.raw"); }
TEST(blk_failed_read_async_status_page_remarked) { read_case(DRIVE_IO_ASYNC, true, "fail_async.raw"); }
TEST(blk_failed_read_sync_status_page_remarked) { read_case(DRIVE_IO_SYNC, true, "fail_sync.raw"); }

/* virtq_push marks the used ring before writing it. Driven on the queue directly, as the
 * device paths that push without a later virtq_enable_notify do (blk_completions for an async
 * completion, net_rx ending on EAGAIN, vsock_rx running out of packets). */
TEST(used_ring_write_after_mark_is_recorded)
{
	mem_setup();
	struct virtq q;
	struct virtq_state st = { .max_size = QS, .size = QS, .desc_gpa = qdesc(0), .avail_gpa = qdesc(0) + 0x1000,
				  .used_gpa = qdesc(0) + 0x2000 };
	REQUIRE_EQ(virtq_enable(&q, &st, &mem), 0);
	set_desc(0, 0, 0x40000, 512, VIRTQ_DESC_F_WRITE, 0);
	publish(0, 0);
	struct virtq_chain *c = calloc(1, sizeof(*c));
	log_on();
	REQUIRE_EQ(virtq_pop(&q, c, NULL), 1);
	memset(c->iov[0].iov_base, 0x5a, 512);   /* the device fills the buffer */
	harvest_on_used_mark = 1;
	virtq_push(&q, c->head, 512);
	uint16_t sent_idx;
	memcpy(&sent_idx, sent_copy + 2, 2);
	uint64_t used_gpa = qdesc(0) + 0x2000;
	CHECK_EQ(used_idx(0), 1);
	/* either the copy has the new index or the page is still recorded for the next round */
	CHECK(sent_idx == used_idx(0) || page_dirty(used_gpa));
	log_off();
	free(c);
}

/* Disk dirty map (migrate_disks / mirror_disks), io_engine Sync (the JSON API's default). */
TEST(blk_sync_write_chunk_recorded_after_copy)
{
	static struct virtio_blk b;
	REQUIRE_EQ(setup(&b, raw_image("w.raw", 0), DRIVE_IO_SYNC), 0);
	blkd = blk_dirty_new(DISK);
	REQUIRE(blkd);
	blk_dirty_enable(blkd, true);
	__atomic_store_n(&b.dirty, blkd, __ATOMIC_RELEASE);
	memset(blk_taken, 0, sizeof(blk_taken));
	queue_req(0, VIRTIO_BLK_T_OUT, (1u << 20) / 512, 4096); /* chunk 16 */
	memset(ram + DATA, 0xab, 4096);
	take_blk_in_write = 1;
	run(&b);
	take_blk_in_write = 0;
	uint64_t now[DISK / BLK_DIRTY_CHUNK / 64 + 2] = { 0 };
	blk_dirty_take(blkd, now);
	unsigned c = (1u << 20) / BLK_DIRTY_CHUNK;
	CHECK_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
	CHECK(now[c / 64] >> (c % 64) & 1);
	__atomic_store_n(&b.dirty, NULL, __ATOMIC_RELEASE);
	virtio_dev_destroy(&b.vdev);
	blk_dirty_free(blkd);
}

int main(int argc, char **argv)
{
	return fake_blk_main(argc, argv);
}
