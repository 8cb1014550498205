/* A drive's backup bitmap (src/devices/virtio/blk/blk_backup.c over block/bitmap_store.c):
 * the guest's writes marked in a tracker of its own, which live migration's takes do not
 * clear; the marks put back when a member fails and cleared when it is complete; the mode an
 * incremental gets (stale or another chain: full, with why); written back clean at a clean
 * close and found in use after a crash. Raw images (the sidecar); qcow2's extension is
 * tests/block/test_backup_bitmap.py's. */
#include "unit.h"

#define MEM_SIZE (2u << 20)
#include "fake_ring.h"
#define DISK (4u << 20)
#include "fake_blk.h"

#include "block/bitmap_store.h"
#include "block/dirty.h"
#include "util/bitmap.h"

static void no_irq(void *opaque, int q)
{
	(void)opaque;
	(void)q;
}

static const struct virtio_transport_ops transport = { no_irq };

/* The guest writes 4 KiB at byte off. */
static void guest_write(struct virtio_blk *b, uint64_t off)
{
	queue_req(0, VIRTIO_BLK_T_OUT, off / 512, 4096);
	memset(ram + DATA, 0x5a, 4096);
	fake_blk_run(b);
	REQUIRE_EQ(ram[STATUS], VIRTIO_BLK_S_OK);
}

static unsigned set_bits(const struct blk_backup_take *t)
{
	unsigned n = 0;
	for (uint64_t i = 0; i < t->nbits; i++)
		n += bitmap_test(t->bits, i);
	return n;
}

TEST(migration_take_does_not_clear_the_backup_marks)
{
	static struct virtio_blk b;
	REQUIRE_EQ(fake_blk_start(&b, raw_image("m.raw", 0), DISK_FORMAT_RAW, DRIVE_IO_SYNC, 0, &transport), 0);
	CHECK(b.bmp.stale);                              /* a disk's first run: no bitmap yet */
	CHECK(strstr(b.bmp.why, "no bitmap yet") != NULL);
	REQUIRE_EQ(virtio_blk_track_writes(&b, true), 0);
	guest_write(&b, 1u << 20);                       /* chunk 16 */
	uint64_t *mig, n;
	REQUIRE_EQ(virtio_blk_take_written(&b, &mig, &n), 0);
	CHECK(bitmap_test(mig, 16));
	free(mig);
	struct blk_backup_take t;
	REQUIRE_EQ(virtio_blk_backup_begin(&b, true, "c", &t), 0);
	CHECK(!t.incremental && strstr(t.why, "stale") != NULL);
	CHECK(bitmap_test(t.bits, 16) && set_bits(&t) == 1 && t.dirty_bytes == BLK_DIRTY_CHUNK);
	virtio_blk_backup_end(&b, &t, true, "c");
	virtio_dev_destroy(&b.vdev);
}

TEST(failed_member_keeps_the_marks_complete_one_clears_them)
{
	static struct virtio_blk b;
	REQUIRE_EQ(fake_blk_start(&b, raw_image("f.raw", 0), DISK_FORMAT_RAW, DRIVE_IO_SYNC, 0, &transport), 0);
	guest_write(&b, 3 * BLK_DIRTY_CHUNK);
	struct blk_backup_take t;
	REQUIRE_EQ(virtio_blk_backup_begin(&b, false, "c", &t), 0);
	CHECK_EQ(set_bits(&t), 1);
	virtio_blk_backup_end(&b, &t, false, "c");       /* the member failed */
	CHECK(b.bmp.stale);                              /* still: no member was ever complete */
	REQUIRE_EQ(virtio_blk_backup_begin(&b, false, "c", &t), 0);
	CHECK(bitmap_test(t.bits, 3) && set_bits(&t) == 1);
	virtio_blk_backup_end(&b, &t, true, "c");        /* a full member in place */
	CHECK(!b.bmp.stale && !strcmp(b.bmp.chain_id, "c"));
	REQUIRE_EQ(virtio_blk_backup_begin(&b, true, "c", &t), 0);
	CHECK(t.incremental && set_bits(&t) == 0);
	virtio_blk_backup_end(&b, &t, true, "c");
	REQUIRE_EQ(virtio_blk_backup_begin(&b, true, "other", &t), 0);
	CHECK(!t.incremental && strstr(t.why, "chain_id") != NULL);
	virtio_blk_backup_end(&b, &t, false, "other");
	virtio_dev_destroy(&b.vdev);
}

TEST(clean_close_persists_crash_is_stale)
{
	static struct virtio_blk b;
	const char *img = raw_image("p.raw", 0);
	REQUIRE_EQ(fake_blk_start(&b, img, DISK_FORMAT_RAW, DRIVE_IO_SYNC, 0, &transport), 0);
	struct blk_backup_take t;
	REQUIRE_EQ(virtio_blk_backup_begin(&b, false, "night", &t), 0);
	virtio_blk_backup_end(&b, &t, true, "night");
	guest_write(&b, 5 * BLK_DIRTY_CHUNK);
	virtio_dev_destroy(&b.vdev);                     /* a clean close: written back */

	static struct virtio_blk again;
	REQUIRE_EQ(fake_blk_start(&again, img, DISK_FORMAT_RAW, DRIVE_IO_SYNC, 0, &transport), 0);
	CHECK(!again.bmp.stale && !strcmp(again.bmp.chain_id, "night"));
	REQUIRE_EQ(virtio_blk_backup_begin(&again, true, "night", &t), 0);
	CHECK(t.incremental && bitmap_test(t.bits, 5) && set_bits(&t) == 1);
	virtio_blk_backup_end(&again, &t, false, "night");
	/* the worker dies here (no close): what the next one finds is in use, so stale */
	struct backup_bitmap found;
	bool q;
	REQUIRE_EQ(bitmap_store_load(img, DISK, &found, &q), 0);
	CHECK(!q && found.stale && strstr(found.why, "in use") != NULL);
	backup_bitmap_free(&found);
	virtio_dev_destroy(&again.vdev);
}

TEST(a_disk_copy_restarts_the_chain)
{
	static struct virtio_blk b;
	REQUIRE_EQ(fake_blk_start(&b, raw_image("h.raw", 0), DISK_FORMAT_RAW, DRIVE_IO_SYNC, 0, &transport), 0);
	struct blk_backup_take t;
	REQUIRE_EQ(virtio_blk_backup_begin(&b, false, "c", &t), 0);
	virtio_blk_backup_end(&b, &t, true, "c");
	static uint8_t chunk[4096];
	REQUIRE_EQ(virtio_blk_write(&b, 0, chunk, sizeof(chunk)), 0); /* a migration's or replication's copy */
	REQUIRE_EQ(virtio_blk_backup_begin(&b, true, "c", &t), 0);
	CHECK(!t.incremental && strstr(t.why, "replication") != NULL);
	virtio_blk_backup_end(&b, &t, true, "c");            /* the full member restarts it */
	REQUIRE_EQ(virtio_blk_backup_begin(&b, true, "c", &t), 0);
	CHECK(t.incremental);
	virtio_blk_backup_end(&b, &t, false, "c");
	virtio_dev_destroy(&b.vdev);
}

int main(int argc, char **argv)
{
	return fake_blk_main(argc, argv);
}
