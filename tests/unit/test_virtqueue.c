/* Unit tests for split virtqueues (src/devices/virtio/virtq.c, every rule in virtq.h): enabling,
 * popping and pushing chains, malformed chains, dirty logging, indirect tables, notification
 * suppression and the chain copy helpers. Guest memory is a heap buffer; no KVM. */
#include "unit.h"
#include "fake_queue.h"

#include "devices/virtio/virtq.h"
#include "memory/guest_mem.h"
#include "util/util.h"

#include <errno.h>

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

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	free(ram);
	return r;
}
