/* Unit tests for the virtio device core over virtio-mmio registers: negotiation and the common
 * state machine, virtio-blk requests against a temp file, and virtio-rng (with its rate
 * limiter). Guest memory is a heap buffer; no KVM. */
#include "unit.h"
#include "fake_queue.h"
#include "rng_mmio.h"

#include "vm/device_params.h"
#include "bus/bus.h"
#include "devices/virtio/blk/blk.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_mmio.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

/* ---- the device core, over virtio-mmio registers ---- */

static uint32_t mr(struct virtio_mmio *m, uint32_t off)
{
	uint8_t b[4];
	virtio_mmio_read(m, off, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void mw(struct virtio_mmio *m, uint32_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	virtio_mmio_write(m, off, b, 4);
}

static char tmpl[] = "/tmp/petrel-unit-blk-XXXXXX";
static int tmpfd = -1;

static void make_disk(void)
{
	if (tmpfd < 0) {
		tmpfd = mkstemp(tmpl);
	}
	REQUIRE(tmpfd >= 0);
	uint8_t sector[512];
	for (int s = 0; s < 64; s++) {
		memset(sector, s, sizeof(sector));
		REQUIRE_EQ(pwrite(tmpfd, sector, 512, s * 512), 512);
	}
}

/* Bring a device to DRIVER_OK with queue 0 at DESC/AVAIL/USED. */
static void mmio_start(struct virtio_mmio *m, uint64_t features)
{
	mw(m, 0x70, 0);
	mw(m, 0x70, 1);
	mw(m, 0x70, 3);
	mw(m, 0x24, 0);
	mw(m, 0x20, (uint32_t)features);
	mw(m, 0x24, 1);
	mw(m, 0x20, (uint32_t)(features >> 32));
	mw(m, 0x70, 0xb);
	mw(m, 0x30, 0);
	mw(m, 0x38, QS);
	mw(m, 0x80, DESC);
	mw(m, 0x90, AVAIL);
	mw(m, 0xa0, USED);
	mw(m, 0x44, 1);
	mw(m, 0x70, 0xf);
}

struct blk_env {
	struct virtio_blk b;
	struct virtio_mmio m;
	struct bus bus;
};

static int blk_env_init(struct blk_env *e, bool ro)
{
	mem_setup();
	make_disk();
	char path[64];
	snprintf(path, sizeof(path), "%s", tmpl);
	struct drive_config cfg = { .drive_id = "unitdisk", .path_on_host = path, .is_read_only = ro,
				    .cache_type = DRIVE_CACHE_WRITEBACK, .io_engine = DRIVE_IO_SYNC };
	int err = virtio_blk_create(&e->b, vm_blk_params(&cfg, &(struct virtio_blk_params){ 0 }), 0, &mem, NULL);
	if (err < 0)
		return err;
	bus_init(&e->bus, "mmio");
	return virtio_mmio_create(&e->m, &e->b.vdev, &e->bus, 0xd0000000, 20, NULL, NULL);
}

static void blk_env_free(struct blk_env *e)
{
	virtio_mmio_destroy(&e->m);
	virtio_dev_destroy(&e->b.vdev);
}

/* Queue one 3-part request at slot n and run the queue. Returns the status byte. */
static uint8_t blk_req(struct blk_env *e, unsigned n, uint32_t type, uint64_t sector, uint32_t len, bool data_write)
{
	uint8_t hdr[16] = { 0 };
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	memcpy(ram + 0x10000, hdr, 16);
	ram[0x12000] = 0xff;
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x11000, len, (uint16_t)(VIRTQ_DESC_F_NEXT | (data_write ? VIRTQ_DESC_F_WRITE : 0)), 2);
	desc(2, 0x12000, 1, VIRTQ_DESC_F_WRITE, 0);
	publish((uint16_t)n, 0);
	e->b.vdev.ops->queue_notify(&e->b.vdev, 0); /* what the I/O thread would do */
	return ram[0x12000];
}

TEST(mmio_registers_and_negotiation)
{
	struct blk_env e;
	REQUIRE_EQ(blk_env_init(&e, false), 0);
	CHECK_EQ_HEX(mr(&e.m, 0), 0x74726976);
	CHECK_EQ(mr(&e.m, 4), 2);
	CHECK_EQ(mr(&e.m, 8), VIRTIO_ID_BLOCK);
	mw(&e.m, 0x14, 1);
	CHECK(mr(&e.m, 0x10) & 1); /* VERSION_1 in the high word */
	mw(&e.m, 0x30, 0);
	CHECK_EQ(mr(&e.m, 0x34), VIRTIO_BLK_QUEUE_SIZE);
	mw(&e.m, 0x30, 1);
	CHECK_EQ(mr(&e.m, 0x34), 0); /* no queue 1 */
	/* FEATURES_OK refused without VERSION_1 */
	mw(&e.m, 0x70, 0);
	mw(&e.m, 0x70, 3);
	mw(&e.m, 0x24, 0);
	mw(&e.m, 0x20, 0);
	mw(&e.m, 0x70, 0xb);
	CHECK(!(mr(&e.m, 0x70) & VIRTIO_STATUS_FEATURES_OK));
	/* and accepted with it */
	mmio_start(&e.m, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	CHECK_EQ(mr(&e.m, 0x70), 0xf);
	/* capacity in config space */
	CHECK_EQ(mr(&e.m, 0x100), 64);
	/* queue registers are frozen once ready */
	mw(&e.m, 0x30, 0);
	mw(&e.m, 0x80, 0x5000);
	CHECK_EQ(e.b.vdev.st.queues[0].desc_gpa, DESC);
	/* reset clears everything */
	mw(&e.m, 0x70, 0);
	CHECK_EQ(mr(&e.m, 0x70), 0);
	CHECK_EQ(mr(&e.m, 0x44), 0);
	blk_env_free(&e);
}

TEST(blk_read_write_and_errors)
{
	struct blk_env e;
	REQUIRE_EQ(blk_env_init(&e, false), 0);
	mmio_start(&e.m, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	CHECK_EQ(blk_req(&e, 0, VIRTIO_BLK_T_IN, 3, 1024, true), VIRTIO_BLK_S_OK);
	CHECK_EQ(ram[0x11000], 3);
	CHECK_EQ(ram[0x11000 + 600], 4);
	CHECK_EQ(used_idx(), 1);
	memset(ram + 0x11000, 0xab, 512);
	CHECK_EQ(blk_req(&e, 1, VIRTIO_BLK_T_OUT, 10, 512, false), VIRTIO_BLK_S_OK);
	uint8_t back[512];
	REQUIRE_EQ(pread(tmpfd, back, 512, 10 * 512), 512);
	CHECK_EQ(back[0], 0xab);
	CHECK_EQ(back[511], 0xab);
	CHECK_EQ(blk_req(&e, 2, VIRTIO_BLK_T_FLUSH, 0, 0, false), VIRTIO_BLK_S_OK);
	CHECK_EQ(blk_req(&e, 3, VIRTIO_BLK_T_IN, 64, 512, true), VIRTIO_BLK_S_IOERR);      /* past end */
	CHECK_EQ(blk_req(&e, 4, VIRTIO_BLK_T_IN, 63, 1024, true), VIRTIO_BLK_S_IOERR);     /* across end */
	CHECK_EQ(blk_req(&e, 5, VIRTIO_BLK_T_IN, 0, 100, true), VIRTIO_BLK_S_IOERR);       /* not 512n */
	CHECK_EQ(blk_req(&e, 6, VIRTIO_BLK_T_OUT, 0, 512, true), VIRTIO_BLK_S_IOERR);      /* data writable */
	CHECK_EQ(blk_req(&e, 7, 77, 0, 512, true), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(blk_req(&e, 8, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, 512, false), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(blk_req(&e, 9, VIRTIO_BLK_T_GET_ID, 0, 20, true), VIRTIO_BLK_S_OK);
	CHECK(!memcmp(ram + 0x11000, "unitdisk", 9));
	/* write-zeroes of sectors 20-21 */
	uint8_t seg[16] = { 0 };
	uint64_t s = 20;
	uint32_t n = 2;
	memcpy(seg, &s, 8);
	memcpy(seg + 8, &n, 4);
	memcpy(ram + 0x11000, seg, 16);
	CHECK_EQ(blk_req(&e, 10, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false), VIRTIO_BLK_S_OK);
	REQUIRE_EQ(pread(tmpfd, back, 512, 21 * 512), 512);
	CHECK_EQ(back[0], 0);
	REQUIRE_EQ(pread(tmpfd, back, 512, 22 * 512), 512);
	CHECK_EQ(back[0], 22);
	seg[12] = 2; /* unknown flag */
	memcpy(ram + 0x11000, seg, 16);
	CHECK_EQ(blk_req(&e, 11, VIRTIO_BLK_T_DISCARD, 0, 16, false), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(blk_req(&e, 12, VIRTIO_BLK_T_DISCARD, 0, 12, false), VIRTIO_BLK_S_UNSUPP);
	CHECK(!(e.b.vdev.st.status & VIRTIO_STATUS_NEEDS_RESET));
	/* a malformed chain breaks the device and it stops taking requests until reset */
	desc(0, 0x10000, 16, VIRTIO_BLK_T_IN, 0); /* flags = 0: no status */
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 0);
	publish(13, 0);
	e.b.vdev.ops->queue_notify(&e.b.vdev, 0);
	CHECK(e.b.vdev.st.status & VIRTIO_STATUS_NEEDS_RESET);
	blk_env_free(&e);
}

TEST(blk_read_only)
{
	struct blk_env e;
	REQUIRE_EQ(blk_env_init(&e, true), 0);
	CHECK(e.b.vdev.host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	CHECK(!(e.b.vdev.host_features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)));
	mmio_start(&e.m, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_RO));
	memset(ram + 0x11000, 0xcd, 512);
	CHECK_EQ(blk_req(&e, 0, VIRTIO_BLK_T_OUT, 1, 512, false), VIRTIO_BLK_S_IOERR);
	uint8_t back[512];
	REQUIRE_EQ(pread(tmpfd, back, 512, 512), 512);
	CHECK_EQ(back[0], 1);
	CHECK_EQ(blk_req(&e, 1, VIRTIO_BLK_T_IN, 1, 512, true), VIRTIO_BLK_S_OK);
	blk_env_free(&e);
}

TEST(rng_fills_buffers)
{
	struct virtio_rng r;
	struct virtio_mmio m;
	struct bus bus;
	REQUIRE_EQ(rng_on_mmio(&r, NULL, &m, &bus), 0);
	mmio_start(&m, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	desc(0, 0x11000, 64, VIRTQ_DESC_F_WRITE, 0);
	publish(0, 0);
	r.vdev.ops->queue_notify(&r.vdev, 0);
	CHECK_EQ(used_idx(), 1);
	uint32_t len;
	memcpy(&len, ram + USED + 8, 4);
	CHECK_EQ(len, 64);
	int zeroes = 0;
	for (int i = 0; i < 64; i++)
		zeroes += ram[0x11000 + i] == 0;
	CHECK(zeroes < 16);
	virtio_mmio_destroy(&m);
	virtio_dev_destroy(&r.vdev);
}

/* The entropy device's rate limiter: one request per 20 ms; a request it cannot pay for stays
 * in the ring until the timer (here: the test) calls the device again. */
TEST(rng_rate_limited)
{
	struct virtio_rng r;
	struct virtio_mmio m;
	struct bus bus;
	struct rate_limiter_config rl = { .present = true };
	rl.ops = (struct token_bucket_config){ .present = true, .size = 1, .refill_time = 20 };
	REQUIRE_EQ(rng_on_mmio(&r, &rl, &m, &bus), 0);
	CHECK(r.rl.timer_fd >= 0);
	mmio_start(&m, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	desc(0, 0x11000, 64, VIRTQ_DESC_F_WRITE, 0);
	desc(1, 0x12000, 64, VIRTQ_DESC_F_WRITE, 0);
	publish(0, 0);
	publish(1, 1);
	r.vdev.ops->queue_notify(&r.vdev, 0);
	CHECK_EQ(used_idx(), 1); /* the bucket held one */
	CHECK(r.rl.blocked);
	r.vdev.ops->queue_notify(&r.vdev, 0); /* a kick before the timer changes nothing */
	CHECK_EQ(used_idx(), 1);
	struct timespec ts = { 0, 25 * 1000000 };
	nanosleep(&ts, NULL);
	rate_limiter_timer_event(&r.rl); /* what the I/O thread does when the timerfd fires */
	r.vdev.ops->queue_notify(&r.vdev, 0);
	CHECK_EQ(used_idx(), 2);
	virtio_mmio_destroy(&m);
	virtio_dev_destroy(&r.vdev);
}

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	if (tmpfd >= 0) {
		close(tmpfd);
		unlink(tmpl);
	}
	free(ram);
	return r;
}
