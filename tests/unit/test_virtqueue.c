/* Unit tests for the virtio core: split virtqueues (every rule in virtq.h), the common
 * device state machine, virtio-mmio registers, and virtio-blk requests against a temp file.
 * Guest memory is a heap buffer; no KVM. */
#include "unit.h"

#include "devices/virtio/blk.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_mmio.h"
#include "devices/virtio/virtio_pci.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtq.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "util/util.h"
#include "bus/bus.h"

#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (1u << 20)
#define DESC 0x1000
#define AVAIL 0x2000
#define USED 0x3000
#define QS 8

static struct guest_mem mem;
static uint8_t *ram;

static void mem_setup(void)
{
	if (!ram) {
		ram = calloc(1, MEM_SIZE);
		mem.regions[0] = (struct guest_region){ 0, MEM_SIZE, ram };
		mem.nregions = 1;
		mem.total = MEM_SIZE;
		log_set_level(LOG_OFF);
	}
	memset(ram, 0, MEM_SIZE);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { addr, len, flags, next };
	memcpy(ram + DESC + 16 * i, &d, 16);
}

static uint16_t *avail(void) { return (uint16_t *)(ram + AVAIL); }
static uint16_t used_idx(void) { return *(uint16_t *)(ram + USED + 2); }

static void publish(uint16_t idx_slot, uint16_t head)
{
	avail()[2 + (idx_slot % QS)] = head;
	avail()[1] = (uint16_t)(idx_slot + 1);
}

static void q_setup(struct virtq *q, struct virtq_state *st, bool indirect, bool event_idx)
{
	mem_setup();
	memset(st, 0, sizeof(*st));
	st->max_size = 256;
	st->size = QS;
	st->desc_gpa = DESC;
	st->avail_gpa = AVAIL;
	st->used_gpa = USED;
	st->indirect = indirect;
	st->event_idx = event_idx;
	REQUIRE_EQ(virtq_enable(q, st, &mem), 0);
}

static struct virtq_chain chain;

TEST(enable_checks_size_and_addresses)
{
	struct virtq q;
	struct virtq_state st = { .max_size = 256, .size = 8, .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED };
	mem_setup();
	CHECK_EQ(virtq_enable(&q, &st, &mem), 0);
	st.size = 12;
	CHECK_EQ(virtq_enable(&q, &st, &mem), -EINVAL);
	st.size = 512;
	CHECK_EQ(virtq_enable(&q, &st, &mem), -EINVAL);
	st.size = 0;
	CHECK_EQ(virtq_enable(&q, &st, &mem), -EINVAL);
	st.size = 8;
	st.desc_gpa = DESC + 8;
	CHECK_EQ(virtq_enable(&q, &st, &mem), -EFAULT);
	st.desc_gpa = MEM_SIZE - 64;
	CHECK_EQ(virtq_enable(&q, &st, &mem), -EFAULT);
	st.desc_gpa = DESC;
	st.used_gpa = MEM_SIZE - 8;
	CHECK_EQ(virtq_enable(&q, &st, &mem), -EFAULT);
	st.used_gpa = (uint64_t)-4096;
	CHECK_EQ(virtq_enable(&q, &st, &mem), -EFAULT);
}

TEST(pop_simple_chain)
{
	struct virtq q;
	struct virtq_state st;
	q_setup(&q, &st, false, false);
	CHECK_EQ(virtq_pop(&q, &chain, NULL), 0);
	desc(3, 0x10000, 16, VIRTQ_DESC_F_NEXT, 5);
	desc(5, 0x11000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, 0x12000, 1, VIRTQ_DESC_F_WRITE, 0);
	publish(0, 3);
	enum virtq_error e;
	REQUIRE_EQ(virtq_pop(&q, &chain, &e), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.n_out, 1);
	CHECK_EQ(chain.n_in, 2);
	CHECK_EQ(chain.out_len, 16);
	CHECK_EQ(chain.in_len, 513);
	CHECK(chain.iov[0].iov_base == ram + 0x10000);
	CHECK(chain.iov[1].iov_base == ram + 0x11000);
	CHECK(chain.iov[2].iov_base == ram + 0x12000);
	CHECK_EQ(virtq_pop(&q, &chain, &e), 0);
	CHECK_EQ(st.last_avail_idx, 1);
}

TEST(push_writes_used_ring)
{
	struct virtq q;
	struct virtq_state st;
	q_setup(&q, &st, false, false);
	virtq_push(&q, 6, 1234);
	CHECK_EQ(used_idx(), 1);
	uint32_t id, len;
	memcpy(&id, ram + USED + 4, 4);
	memcpy(&len, ram + USED + 8, 4);
	CHECK_EQ(id, 6);
	CHECK_EQ(len, 1234);
	for (int i = 0; i < 9; i++)
		virtq_push(&q, 1, 1);
	CHECK_EQ(used_idx(), 10);
}

TEST(push_n_and_unpop)
{
	struct virtq q;
	struct virtq_state st;
	q_setup(&q, &st, false, false);
	struct virtq_used_elem e[3] = { { 1, 10 }, { 2, 20 }, { 3, 30 } };
	virtq_push_n(&q, e, 3);
	CHECK_EQ(used_idx(), 3);
	uint32_t id;
	memcpy(&id, ram + USED + 4 + 16, 4);
	CHECK_EQ(id, 3);
	desc(0, 0x10000, 16, 0, 0);
	publish(0, 0);
	REQUIRE_EQ(virtq_pop(&q, &chain, NULL), 1);
	CHECK_EQ(virtq_pop(&q, &chain, NULL), 0);
	virtq_unpop(&q, 1);
	CHECK_EQ(virtq_pop(&q, &chain, NULL), 1);
	CHECK_EQ(chain.head, 0);
}

static enum virtq_error pop_err(struct virtq *q)
{
	enum virtq_error e = VIRTQ_OK;
	int r = virtq_pop(q, &chain, &e);
	CHECK(r < 0);
	return e;
}

TEST(rejects_malformed_chains)
{
	struct virtq q;
	struct virtq_state st;

	q_setup(&q, &st, false, false);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x11000, 16, VIRTQ_DESC_F_NEXT, 0);   /* loop */
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_LOOP);
	CHECK_EQ(st.last_avail_idx, 0);                /* position unchanged on error */

	q_setup(&q, &st, false, false);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 8);   /* next == size */
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_NEXT);

	q_setup(&q, &st, false, false);
	publish(0, 8);                                  /* head == size */
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_HEAD);

	q_setup(&q, &st, false, false);
	avail()[1] = 9;                                 /* 9 > size entries available */
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_AVAIL_IDX);

	q_setup(&q, &st, false, false);
	desc(0, MEM_SIZE - 8, 16, 0, 0);               /* runs past RAM */
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_ADDR);

	q_setup(&q, &st, false, false);
	desc(0, (uint64_t)-8, 16, 0, 0);               /* wraps the address space */
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_ADDR);

	q_setup(&q, &st, false, false);
	desc(0, 0x10000, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	desc(1, 0x11000, 16, 0, 0);                    /* readable after writable */
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_ORDER);

	q_setup(&q, &st, false, false);
	desc(0, 0x10000, 0xffffffffu, VIRTQ_DESC_F_NEXT, 1); /* not in RAM anyway */
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_ADDR);
}

/* With dirty logging, a writable buffer counts as written when the chain is pushed back, also
 * when the log was harvested (cleared) between the pop and the push: the page must not reach
 * a migration's destination, a standby or a Diff snapshot stale. Only the bytes the device says
 * it wrote (the used length) count; readable buffers never do. */
TEST(push_marks_the_written_buffers_dirty_again)
{
	uint64_t bits[MEM_SIZE / 4096 / 64];
	struct virtq q;
	struct virtq_state st;
	for (int indirect = 0; indirect < 2; indirect++) {
		q_setup(&q, &st, indirect, false);
		struct virtq_desc t[3] = {
			{ 0x10000, 16, VIRTQ_DESC_F_NEXT, 1 },                          /* read: header */
			{ 0x11000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 },   /* written whole */
			{ 0x12000, 8192, VIRTQ_DESC_F_WRITE, 0 },                       /* 100 bytes of it */
		};
		if (indirect) {
			memcpy(ram + 0x20000, t, sizeof(t));
			desc(0, 0x20000, sizeof(t), VIRTQ_DESC_F_INDIRECT, 0);
		} else {
			for (unsigned i = 0; i < 3; i++)
				desc(i, t[i].addr, t[i].len, t[i].flags, t[i].next);
		}
		publish(0, 0);
		memset(bits, 0, sizeof(bits));
		mem.regions[0].dirty = bits;
		mem.dirty_log = true;
		REQUIRE_EQ(virtq_pop(&q, &chain, NULL), 1);
		CHECK(bits[0x11000 / 4096 / 64] & (1ull << (0x11000 / 4096 % 64))); /* marked at the pop */
		memset(bits, 0, sizeof(bits));                                    /* a round harvests */
		virtq_push(&q, chain.head, 4096 + 100);
		CHECK(bits[0] & (1ull << 0x11));            /* the whole buffer */
		CHECK(bits[0] & (1ull << 0x12));            /* the first page of the last one */
		CHECK(!(bits[0] & (1ull << 0x13)));         /* not past the used length */
		CHECK(!(bits[0] & (1ull << 0x10)));         /* the device only read this one */
		CHECK(bits[0] & (1ull << (USED / 4096)));   /* and the used ring */
		mem.dirty_log = false;
		mem.regions[0].dirty = NULL;
	}
}

TEST(length_overflow)
{
	/* Two descriptors whose lengths sum past 4 GiB: needs RAM that big, so fake a region
	 * table with two huge regions is not possible here; check the 32-bit sum with many
	 * max-size buffers in a large sparse region instead. */
	struct guest_mem big = { .nregions = 1, .total = 1ull << 33 };
	big.regions[0] = (struct guest_region){ 0, 1ull << 33, NULL };
	mem_setup();
	/* guest_mem_ptr only computes pointers: a NULL base still yields offsets we never touch */
	big.regions[0].hva = ram; /* rings live in the first MiB */
	struct virtq q;
	struct virtq_state st = { .max_size = 256, .size = QS, .desc_gpa = DESC, .avail_gpa = AVAIL, .used_gpa = USED };
	REQUIRE_EQ(virtq_enable(&q, &st, &big), 0);
	desc(0, 1ull << 31, 0xfffff000u, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 1ull << 32, 0xfffff000u, 0, 0);
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_LEN);
}

TEST(indirect_tables)
{
	struct virtq q;
	struct virtq_state st;
	struct virtq_desc t[3] = {
		{ 0x10000, 16, VIRTQ_DESC_F_NEXT, 1 },
		{ 0x11000, 4096, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2 },
		{ 0x12000, 1, VIRTQ_DESC_F_WRITE, 0 },
	};

	/* not negotiated */
	q_setup(&q, &st, false, false);
	memcpy(ram + 0x20000, t, sizeof(t));
	desc(0, 0x20000, sizeof(t), VIRTQ_DESC_F_INDIRECT, 0);
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_INDIRECT);

	/* good */
	q_setup(&q, &st, true, false);
	memcpy(ram + 0x20000, t, sizeof(t));
	desc(0, 0x20000, sizeof(t), VIRTQ_DESC_F_INDIRECT, 0);
	publish(0, 0);
	REQUIRE_EQ(virtq_pop(&q, &chain, NULL), 1);
	CHECK_EQ(chain.n_out, 1);
	CHECK_EQ(chain.n_in, 2);
	CHECK_EQ(chain.in_len, 4097);

	/* direct descriptors, then an indirect table as the last one */
	q_setup(&q, &st, true, false);
	memcpy(ram + 0x20000, t + 1, 2 * sizeof(t[0]));
	((struct virtq_desc *)(ram + 0x20000))[0].next = 1;
	desc(2, 0x10000, 16, VIRTQ_DESC_F_NEXT, 4);
	desc(4, 0x20000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0, 2);
	REQUIRE_EQ(virtq_pop(&q, &chain, NULL), 1);
	CHECK_EQ(chain.n_out + chain.n_in, 3);

	/* length not a multiple of 16, zero, misaligned, outside RAM, with NEXT */
	const struct { uint64_t addr; uint32_t len; uint16_t flags; enum virtq_error e; } bad[] = {
		{ 0x20000, 40, VIRTQ_DESC_F_INDIRECT, VIRTQ_ERR_INDIRECT },
		{ 0x20000, 0, VIRTQ_DESC_F_INDIRECT, VIRTQ_ERR_INDIRECT },
		{ 0x20008, 48, VIRTQ_DESC_F_INDIRECT, VIRTQ_ERR_INDIRECT },
		{ MEM_SIZE - 16, 48, VIRTQ_DESC_F_INDIRECT, VIRTQ_ERR_ADDR },
		{ 0x20000, 48, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, VIRTQ_ERR_INDIRECT },
		{ 0x20000, 16 * (VIRTQ_MAX_CHAIN + 1), VIRTQ_DESC_F_INDIRECT, VIRTQ_ERR_INDIRECT },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		q_setup(&q, &st, true, false);
		memcpy(ram + 0x20000, t, sizeof(t));
		desc(0, bad[i].addr, bad[i].len, bad[i].flags, 1);
		publish(0, 0);
		CHECK_EQ(pop_err(&q), bad[i].e);
	}

	/* nested, loop inside, next out of the table */
	struct virtq_desc nested[1] = { { 0x20000, 48, VIRTQ_DESC_F_INDIRECT, 0 } };
	q_setup(&q, &st, true, false);
	memcpy(ram + 0x30000, nested, sizeof(nested));
	desc(0, 0x30000, 16, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_INDIRECT);

	struct virtq_desc loop[2] = { { 0x10000, 16, VIRTQ_DESC_F_NEXT, 1 }, { 0x11000, 16, VIRTQ_DESC_F_NEXT, 0 } };
	q_setup(&q, &st, true, false);
	memcpy(ram + 0x30000, loop, sizeof(loop));
	desc(0, 0x30000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_LOOP);

	loop[1].next = 2;
	q_setup(&q, &st, true, false);
	memcpy(ram + 0x30000, loop, sizeof(loop));
	desc(0, 0x30000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	publish(0, 0);
	CHECK_EQ(pop_err(&q), VIRTQ_ERR_NEXT);
}

TEST(chain_longer_than_max)
{
	struct virtq q;
	struct virtq_state st;
	mem_setup();
	memset(&st, 0, sizeof(st));
	st.max_size = 1024;
	st.size = 512;
	st.desc_gpa = 0x40000;
	st.avail_gpa = AVAIL;
	st.used_gpa = 0x50000;
	REQUIRE_EQ(virtq_enable(&q, &st, &mem), 0);
	for (unsigned i = 0; i < 300; i++) {
		struct virtq_desc d = { 0x10000, 8, (uint16_t)(i < 299 ? VIRTQ_DESC_F_NEXT : 0), (uint16_t)(i + 1) };
		memcpy(ram + 0x40000 + 16 * i, &d, 16);
	}
	avail()[2] = 0;
	avail()[1] = 1;
	enum virtq_error e;
	CHECK(virtq_pop(&q, &chain, &e) < 0);
	CHECK_EQ(e, VIRTQ_ERR_TOO_LONG);
}

TEST(notification_suppression)
{
	struct virtq q;
	struct virtq_state st;
	q_setup(&q, &st, false, false);
	virtq_push(&q, 0, 0);
	CHECK(virtq_should_notify(&q));
	avail()[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	CHECK(!virtq_should_notify(&q));

	/* EVENT_IDX: interrupt only when used idx passes used_event */
	q_setup(&q, &st, false, true);
	avail()[2 + QS] = 2;            /* used_event: interrupt once used idx goes past 2 */
	virtq_push(&q, 0, 0);            /* used 1 */
	CHECK(virtq_should_notify(&q));  /* first one always */
	virtq_push(&q, 0, 0);            /* used 2 */
	CHECK(!virtq_should_notify(&q));
	virtq_push(&q, 0, 0);            /* used 3: crosses 2 */
	CHECK(virtq_should_notify(&q));
	virtq_push(&q, 0, 0);
	CHECK(!virtq_should_notify(&q));

	/* enable_notify publishes avail_event and reports late arrivals */
	q_setup(&q, &st, false, true);
	desc(0, 0x10000, 16, 0, 0);
	publish(0, 0);
	REQUIRE_EQ(virtq_pop(&q, &chain, NULL), 1);
	CHECK(!virtq_enable_notify(&q));
	uint16_t ae;
	memcpy(&ae, ram + USED + 4 + 8 * QS, 2);
	CHECK_EQ(ae, 1);
	publish(1, 0);
	CHECK(virtq_enable_notify(&q));
}

TEST(chain_copy_helpers)
{
	struct virtq q;
	struct virtq_state st;
	q_setup(&q, &st, false, false);
	desc(0, 0x10000, 3, VIRTQ_DESC_F_NEXT, 1);
	desc(1, 0x10100, 5, VIRTQ_DESC_F_NEXT, 2);
	desc(2, 0x10200, 4, VIRTQ_DESC_F_WRITE, 0);
	memcpy(ram + 0x10000, "abc", 3);
	memcpy(ram + 0x10100, "defgh", 5);
	publish(0, 0);
	REQUIRE_EQ(virtq_pop(&q, &chain, NULL), 1);
	char buf[16] = { 0 };
	CHECK_EQ(virtq_chain_read(&chain, 1, buf, 6), 6);
	CHECK_STR_EQ(buf, "bcdefg");
	CHECK_EQ(virtq_chain_read(&chain, 6, buf, 16), 2);
	CHECK_EQ(virtq_chain_write(&chain, 0, "WXYZ!", 5), 4);
	CHECK(!memcmp(ram + 0x10200, "WXYZ", 4));
}

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
	int err = virtio_blk_create(&e->b, &cfg, 0, &mem, NULL);
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
	mem_setup();
	struct virtio_rng r;
	struct virtio_mmio m;
	struct bus bus;
	REQUIRE_EQ(virtio_rng_create(&r, 0, NULL, &mem, NULL), 0);
	bus_init(&bus, "mmio");
	REQUIRE_EQ(virtio_mmio_create(&m, &r.vdev, &bus, 0xd0000000, 20, NULL, NULL), 0);
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
	mem_setup();
	struct virtio_rng r;
	struct virtio_mmio m;
	struct bus bus;
	struct rate_limiter_config rl = { .present = true };
	rl.ops = (struct token_bucket_config){ .present = true, .size = 1, .refill_time = 20 };
	REQUIRE_EQ(virtio_rng_create(&r, 0, &rl, &mem, NULL), 0);
	CHECK(r.rl.timer_fd >= 0);
	bus_init(&bus, "mmio");
	REQUIRE_EQ(virtio_mmio_create(&m, &r.vdev, &bus, 0xd0000000, 20, NULL, NULL), 0);
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

/* ---- PCI: configuration mechanism #1, BAR sizing and moves, capabilities, MSI-X table ---- */

static uint32_t pio_in(struct bus *pio, uint16_t port, unsigned len)
{
	uint8_t b[4] = { 0 };
	bus_access(pio, port, b, len, false);
	return pci_get(b, 0, len);
}

static void pio_out(struct bus *pio, uint16_t port, uint32_t v, unsigned len)
{
	uint8_t b[4];
	pci_put(b, 0, v, len);
	bus_access(pio, port, b, len, true);
}

static uint32_t cfg_rd(struct bus *pio, unsigned slot, unsigned off, unsigned len)
{
	pio_out(pio, 0xcf8, 0x80000000u | slot << 11 | (off & 0xfc), 4);
	return pio_in(pio, (uint16_t)(0xcfc + (off & 3)), len);
}

static void cfg_wr(struct bus *pio, unsigned slot, unsigned off, uint32_t v, unsigned len)
{
	pio_out(pio, 0xcf8, 0x80000000u | slot << 11 | (off & 0xfc), 4);
	pio_out(pio, (uint16_t)(0xcfc + (off & 3)), v, len);
}

TEST(pci_conf1_bars_and_capabilities)
{
	mem_setup();
	static struct bus pio, mmio;
	static struct pci_bus pci;
	static struct virtio_rng r;
	static struct virtio_pci vp;
	bus_init(&pio, "pio");
	bus_init(&mmio, "mmio");
	REQUIRE_EQ(pci_bus_init(&pci, NULL, &pio, &mmio, 0xc0000000, 0x10000000), 0);
	REQUIRE_EQ(virtio_rng_create(&r, 0, NULL, &mem, NULL), 0);
	REQUIRE_EQ(virtio_pci_create(&vp, &r.vdev, &pci, NULL, NULL), 0);
	CHECK_EQ(vp.pci.slot, 1);

	/* Linux's pci_check_type1: byte write to 0xCFB is ignored, the dword latch reads back */
	pio_out(&pio, 0xcfb, 1, 1);
	pio_out(&pio, 0xcf8, 0x80000000u, 4);
	CHECK_EQ_HEX(pio_in(&pio, 0xcf8, 4), 0x80000000u);
	/* pci_sanity_check: a host bridge at 00:00.0 */
	CHECK_EQ_HEX(cfg_rd(&pio, 0, 0x0a, 2), 0x0600);
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0, 4), 0x10441af4u);   /* virtio-rng: 0x1040 + 4 */
	CHECK_EQ_HEX(cfg_rd(&pio, 2, 0, 4), 0xffffffffu);   /* empty slot */
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0x08, 1), 1);          /* revision 1: modern */
	/* IDs are read-only */
	cfg_wr(&pio, 1, 0, 0x12345678, 4);
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0, 4), 0x10441af4u);

	/* BAR 0: 32 KiB in the window, sizing, a move and back */
	uint32_t bar = cfg_rd(&pio, 1, 0x10, 4);
	CHECK_EQ_HEX(bar, 0xc0000000u);
	cfg_wr(&pio, 1, 0x04, 0, 2);                         /* decoding off */
	CHECK_EQ(vp.pci.bar_mapped[0], 0);
	cfg_wr(&pio, 1, 0x10, 0xffffffffu, 4);
	CHECK_EQ_HEX(cfg_rd(&pio, 1, 0x10, 4), 0xffff8000u);
	cfg_wr(&pio, 1, 0x10, 0xc0100000u, 4);
	cfg_wr(&pio, 1, 0x04, 2, 2);                         /* memory decoding on */
	CHECK_EQ_HEX(vp.pci.bar_mapped[0], 0xc0100000u);
	uint8_t b[4];
	bus_access(&mmio, 0xc0100000u + 0x12, b, 2, false);  /* common cfg: num_queues */
	CHECK_EQ(pci_get(b, 0, 2), 1);
	bus_access(&mmio, 0xc0000000u + 0x12, b, 2, false);  /* old place: nothing */
	CHECK_EQ_HEX(pci_get(b, 0, 2), 0xffff);
	cfg_wr(&pio, 1, 0x10, 0xe0000000u, 4);               /* outside the window: no decode */
	CHECK_EQ(vp.pci.bar_mapped[0], 0);
	cfg_wr(&pio, 1, 0x10, 0xc0000000u, 4);

	/* capability list: MSI-X then the virtio structures */
	unsigned types = 0, cap = cfg_rd(&pio, 1, 0x34, 1), msix = 0;
	CHECK(cfg_rd(&pio, 1, 0x06, 2) & PCI_STATUS_CAP_LIST);
	for (int n = 0; cap && n < 16; n++, cap = cfg_rd(&pio, 1, cap + 1, 1)) {
		if (cfg_rd(&pio, 1, cap, 1) == PCI_CAP_ID_MSIX)
			msix = cap;
		else if (cfg_rd(&pio, 1, cap, 1) == PCI_CAP_ID_VNDR)
			types |= 1u << cfg_rd(&pio, 1, cap + 3, 1);
	}
	CHECK_EQ_HEX(types, 0x3e);                           /* types 1-5 */
	REQUIRE(msix != 0);
	CHECK_EQ(cfg_rd(&pio, 1, msix + 2, 2) & 0x7ff, 1);   /* 2 vectors: queue + config */

	/* MSI-X table through the BAR; a masked vector latches its pending bit */
	uint8_t w[4];
	pci_put(w, 0, 0xfee00000u, 4);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF, w, 4, true);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF, b, 4, false);
	CHECK_EQ_HEX(pci_get(b, 0, 4), 0xfee00000u);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF + 12, b, 4, false);
	CHECK_EQ(pci_get(b, 0, 4), 1);                       /* masked at reset */
	msix_notify(&vp.msix, 0);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_PBA_OFF, b, 1, false);
	CHECK_EQ(b[0] & 1, 1);
	cfg_wr(&pio, 1, msix + 2, 0x8000, 2);                /* enable */
	pci_put(w, 0, 0, 4);
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_TABLE_OFF + 12, w, 4, true); /* unmask: fires */
	bus_access(&mmio, 0xc0000000u + VIRTIO_PCI_MSIX_PBA_OFF, b, 1, false);
	CHECK_EQ(b[0] & 1, 0);
	CHECK_EQ(vp.msix.fired, 1);

	/* queue_msix_vector past the table reads back NO_VECTOR */
	pci_put(w, 0, 7, 2);
	bus_access(&mmio, 0xc0000000u + 0x1a, w, 2, true);
	bus_access(&mmio, 0xc0000000u + 0x1a, b, 2, false);
	CHECK_EQ_HEX(pci_get(b, 0, 2), 0xffff);

	virtio_pci_destroy(&vp);
	virtio_dev_destroy(&r.vdev);
	pci_bus_destroy(&pci);
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
