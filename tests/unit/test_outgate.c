/* Unit tests for the output gate of replication (src/util/outgate.c): console bytes and network
 * frames held per epoch come out when their epoch is released, in order; opening the gate
 * writes what is held first, and output made while that is being written waits behind it. */
#include <malloc.h>
#include <string.h>

#include "util/outgate.h"
#include "unit.h"

struct sink {
	char out[256];
	size_t len;
	struct outgate *g;      /* when set, the first emit holds `late` (output made meanwhile) */
	const char *late;
	bool late_held;
};

static void emit(void *opaque, const void *data, size_t len)
{
	struct sink *s = opaque;
	memcpy(s->out + s->len, data, len);
	s->len += len;
	s->out[s->len] = '\0';
	if (s->g && s->late) {
		const char *late = s->late;
		s->late = NULL;
		s->late_held = outgate_hold(s->g, emit, s, late, strlen(late), true);
	}
}

static void hold(struct outgate *g, struct sink *s, const char *text)
{
	REQUIRE(outgate_hold(g, emit, s, text, strlen(text), true));
}

TEST(released_by_epoch_in_order)
{
	struct outgate *g = outgate_new();
	struct sink s = { 0 };
	hold(g, &s, "a1 ");
	hold(g, &s, "a2 ");
	CHECK_EQ(outgate_close_epoch(g), 1);
	hold(g, &s, "b1 ");
	CHECK_EQ(outgate_close_epoch(g), 2);
	CHECK_EQ(outgate_held(g), 9);
	outgate_release(g, 1);
	CHECK(!strcmp(s.out, "a1 a2 "));
	CHECK_EQ(outgate_held(g), 3);
	outgate_release(g, 2);
	CHECK(!strcmp(s.out, "a1 a2 b1 "));
	CHECK_EQ(outgate_held(g), 0);
	outgate_free(g);
}

/* What the primary sends the standby with a checkpoint: the closed epoch's bytes for one
 * writer (the console), not another's (a tap's frames), nor another epoch's; the last ones
 * when there are more than fit. Copying takes nothing off the gate. */
TEST(copy_takes_one_writer_s_bytes_of_one_epoch)
{
	struct outgate *g = outgate_new();
	struct sink con = { 0 }, tap = { 0 };
	hold(g, &con, "old ");
	CHECK_EQ(outgate_close_epoch(g), 1);
	hold(g, &con, "a1 ");
	REQUIRE(outgate_hold(g, emit, &tap, "frame", 5, false));
	hold(g, &con, "a2 ");
	CHECK_EQ(outgate_close_epoch(g), 2);
	hold(g, &con, "next ");
	uint8_t buf[16];
	CHECK_EQ(outgate_copy(g, 2, &con, buf, sizeof(buf)), 6);
	CHECK(!memcmp(buf, "a1 a2 ", 6));
	CHECK_EQ(outgate_copy(g, 2, &con, buf, 4), 4);   /* the last 4 */
	CHECK(!memcmp(buf, " a2 ", 4));
	CHECK_EQ(outgate_copy(g, 2, &tap, buf, sizeof(buf)), 5);
	CHECK_EQ(outgate_copy(g, 3, &con, buf, 0), 0);
	CHECK_EQ(outgate_held(g), 4 + 6 + 5 + 5);
	outgate_release(g, 2);
	CHECK(!strcmp(con.out, "old a1 a2 "));
	CHECK_EQ(outgate_copy(g, 2, &con, buf, sizeof(buf)), 0); /* written: nothing left to copy */
	outgate_free(g);
}

TEST(open_writes_output_made_meanwhile_after_the_held)
{
	struct outgate *g = outgate_new();
	struct sink s = { .late = "late " };
	s.g = g;
	hold(g, &s, "old ");
	outgate_close_epoch(g);
	hold(g, &s, "newer ");
	outgate_open(g); /* the standby is gone: everything goes, in order */
	CHECK(s.late_held); /* the gate was not open yet while the old output was being written */
	CHECK(!strcmp(s.out, "old newer late "));
	CHECK_EQ(outgate_held(g), 0);
	/* open now: the caller writes for itself */
	CHECK(!outgate_hold(g, emit, &s, "x", 1, true));
	outgate_free(g);
}

TEST(an_empty_gate_opens_at_once)
{
	struct outgate *g = outgate_new();
	struct sink s = { 0 };
	outgate_open(g);
	CHECK(!outgate_hold(g, emit, &s, "x", 1, true));
	CHECK_EQ(s.len, 0);
	outgate_free(g);
}

/* Emits counted, not kept (frames and big amounts). */
struct tally {
	unsigned writes;
	size_t bytes, last_len;
};

static void count(void *opaque, const void *data, size_t len)
{
	(void)data;
	struct tally *t = opaque;
	t->writes++;
	t->bytes += len;
	t->last_len = len;
}

TEST(frames_stay_one_write_each)
{
	struct outgate *g = outgate_new();
	struct tally t = { 0 };
	uint8_t frame[54] = { 0 };  /* an ARP frame with its virtio-net header: under 64 bytes */
	for (int i = 0; i < 3; i++)
		REQUIRE(outgate_hold(g, count, &t, frame, sizeof(frame), false));
	outgate_release(g, outgate_close_epoch(g));
	CHECK_EQ(t.writes, 3);
	CHECK_EQ(t.last_len, sizeof(frame));
	outgate_free(g);
}

TEST(a_full_gate_drops_rather_than_letting_output_overtake)
{
	struct outgate *g = outgate_new();
	struct tally t = { 0 };
	static uint8_t mib[1 << 20];
	for (int i = 0; i < 64; i++)
		REQUIRE(outgate_hold(g, count, &t, mib, sizeof(mib), false));
	CHECK(outgate_hold(g, count, &t, mib, 1, false)); /* taken: dropped, not written now */
	CHECK_EQ(t.writes, 0);
	CHECK_EQ(outgate_dropped(g), 1);
	outgate_release(g, outgate_close_epoch(g));
	CHECK_EQ(t.bytes, (size_t)64 << 20);
	outgate_free(g);
}

TEST(dropped_output_never_comes_out)
{
	struct outgate *g = outgate_new();
	struct tally t = { 0 };
	REQUIRE(outgate_hold(g, count, &t, "old", 3, true));
	outgate_drop(g);                 /* the guest stops: what no standby has stays in */
	CHECK(outgate_hold(g, count, &t, "new", 3, true));
	outgate_release(g, outgate_close_epoch(g));
	outgate_open(g);
	outgate_free(g);
	CHECK_EQ(t.writes, 0);
}

/* A guest that floods tiny frames (a virtio-net header and nothing else: 12 bytes) while the
 * standby is slow: what bounds the gate is the memory its entries take, not only the bytes
 * they carry. Counted by bytes alone, 64 MiB of 12-byte frames were 5.6 million entries of a
 * few hundred bytes each: some 1.7 GiB before the first drop. */
TEST(a_flood_of_tiny_frames_is_bounded_by_memory_not_only_bytes)
{
	struct outgate *g = outgate_new();
	struct tally t = { 0 };
	uint8_t frame[12] = { 0 };
	size_t heap0 = mallinfo2().uordblks, held = 0;
	bool dropping = false;
	/* stop at 160 MiB of heap or a million frames whatever happens (the test itself must stay
	 * bounded; under ASan mallinfo2 says nothing) */
	while (!dropping && mallinfo2().uordblks - heap0 < (160u << 20) && held < (1u << 20)) {
		for (int i = 0; i < 65536 && !dropping; i++) {
			REQUIRE(outgate_hold(g, count, &t, frame, sizeof(frame), false));
			dropping = outgate_dropped(g) > 0;
			held += !dropping;
		}
	}
	CHECK(dropping);
	CHECK(mallinfo2().uordblks - heap0 < (160u << 20));
	CHECK_EQ(t.writes, 0);
	outgate_release(g, outgate_close_epoch(g)); /* what was held goes, in order, and nothing else */
	CHECK_EQ(t.writes, held);
	outgate_free(g);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
