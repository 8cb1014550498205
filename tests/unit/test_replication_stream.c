/* The standby's side of replication (src/ha/standby.c, the staged disk writes of
 * src/migration/disks.c) fed hostile or out-of-turn streams over a socket pair, on a fake
 * machine (mig_stream.h): memory and disks change only by whole checkpoints, what a checkpoint
 * may hold is bounded, and the timing the primary announces is checked. */
#include "unit.h"
#include "mig_stream.h"

/* ---- replication ---- */

/* Once the first checkpoint is in, memory changes only by whole checkpoints: a page run
 * between two of them would be in the state the standby runs if the primary died next. */
TEST(a_page_between_checkpoints_is_refused)
{
	struct stream s = begin();
	pages(&s, 0x1000, 0x11);            /* the initial sync: straight into memory */
	checkpoint(&s, MIG_CKPT, 1);
	pages(&s, 0x2000, 0x22);
	state(&s);
	checkpoint(&s, MIG_CEND, 1);
	pages(&s, 0x3000, 0x33);            /* outside any checkpoint */
	bool state;
	int e = follow(s, &state);
	REQUIRE(vm.mem.nregions == 1);
	CHECK(state);
	CHECK_EQ(byte_at(0x1000), 0x11);
	CHECK_EQ(byte_at(0x2000), 0x22);
	CHECK_EQ(byte_at(0x3000), 0);       /* not in any checkpoint */
	CHECK_EQ(e, -EPROTO);               /* a bad stream: no take-over with it */
	take_down();
}

TEST(a_checkpoint_s_pages_are_not_applied_before_its_end)
{
	struct stream s = begin();
	whole_checkpoint(&s, 1);
	checkpoint(&s, MIG_CKPT, 2);
	pages(&s, 0x2000, 0x22);
	state(&s); /* ... and the primary dies before CEND */
	bool state;
	int e = follow(s, &state);
	REQUIRE(vm.mem.nregions == 1);
	CHECK(state);
	CHECK_EQ(e, -ECONNRESET);           /* the primary died: take over from checkpoint 1 */
	CHECK_EQ(byte_at(0x2000), 0);
	take_down();
}

/* The primary says its interval first; a standby whose failure timeout would expire between
 * two healthy checkpoints refuses to start (a misconfiguration found at once, not a false
 * take-over later), and says what would do. */
static int follow_with_timing(uint32_t interval_ms, bool *state)
{
	struct stream s = begin();
	struct mig_repl_cfg c = { .interval_ms = interval_ms, .failure_timeout_ms = 1000 };
	msg(&s, MIG_RCFG, &c, sizeof(c), NULL, 0);
	pages(&s, 0x1000, 0x11);
	whole_checkpoint(&s, 1);
	return follow(s, state); /* failure_timeout_ms 1000 */
}

TEST(a_standby_timeout_shorter_than_the_interval_needs_is_refused)
{
	bool state;
	int e = follow_with_timing(600, &state);
	CHECK_EQ(e, -EINVAL);
	CHECK(!state);
	CHECK_CONTAINS(err, "failure_timeout_ms (1000)");
	CHECK_CONTAINS(err, "at least 1300 ms");
	take_down();
}

TEST(a_standby_timeout_that_fits_the_interval_is_taken)
{
	bool state;
	int e = follow_with_timing(50, &state);
	CHECK_EQ(e, -ECONNRESET); /* the stream ended after checkpoint 1: take over */
	CHECK(state);
	CHECK_EQ(byte_at(0x1000), 0x11);
	take_down();
}

TEST(a_timing_message_after_a_checkpoint_is_refused)
{
	struct stream s = begin();
	whole_checkpoint(&s, 1);
	struct mig_repl_cfg c = { .interval_ms = 50, .failure_timeout_ms = 1000 };
	msg(&s, MIG_RCFG, &c, sizeof(c), NULL, 0);
	bool state;
	CHECK_EQ(follow(s, &state), -EPROTO);
	take_down();
}

static void zero_run(struct stream *s, uint64_t gpa, uint32_t npages)
{
	struct mig_pages p = { .gpa = gpa, .npages = npages, .flags = MIG_PAGES_ZERO };
	msg(s, MIG_PAGES, &p, sizeof(p), NULL, 0);
}

/* Pages the balloon or virtio-mem dropped on the primary come as zero runs, without data: the
 * standby drops them too at the checkpoint's end (they read zero and hold no memory). They
 * were sent as full pages, and a standby refused zero runs. */
TEST(a_checkpoint_s_zero_runs_drop_the_standby_s_pages)
{
	struct stream s = begin();
	for (uint64_t gpa = 0x10000; gpa < 0x20000; gpa += PAGE)
		pages(&s, gpa, 0x11);           /* the initial sync */
	checkpoint(&s, MIG_CKPT, 1);
	zero_run(&s, 0x10000, 16);
	state(&s);
	checkpoint(&s, MIG_CEND, 1);
	bool state;
	int e = follow(s, &state);
	REQUIRE(vm.mem.nregions == 1);
	CHECK_EQ(e, -ECONNRESET);           /* the stream ended: take over from checkpoint 1 */
	CHECK(state);
	unsigned char res[16];
	REQUIRE_EQ(mincore(vm.mem.regions[0].hva + 0x10000, 16 * PAGE, res), 0);
	for (int i = 0; i < 16; i++)
		CHECK_EQ(res[i] & 1, 0);        /* no memory held */
	CHECK_EQ(byte_at(0x10000), 0);
	CHECK_EQ(byte_at(0x1ffff), 0);
	take_down();
}

/* Zero runs hold nothing while staged, so what bounds a checkpoint is guest memory itself:
 * a primary sends each dirty page once per checkpoint. */
TEST(a_checkpoint_of_more_pages_than_guest_memory_is_refused)
{
	struct stream s = begin();
	checkpoint(&s, MIG_CKPT, 1);
	for (uint64_t gpa = 0; gpa < MEM; gpa += 256 * PAGE)
		zero_run(&s, gpa, 256);         /* all of memory: a checkpoint may do that */
	zero_run(&s, 0, 1);                 /* one page more than there is */
	state(&s);
	checkpoint(&s, MIG_CEND, 1);
	bool state;
	CHECK_EQ(follow(s, &state), -EPROTO);
	CHECK(!state);
	CHECK_CONTAINS(err, "larger than guest memory");
	take_down();
}

/* A checkpoint stages its disk writes in memory until its end: no more than its drives hold
 * (a primary sends each changed chunk once per checkpoint), or a stream of disk messages
 * would take the standby's memory without end. */
TEST(a_checkpoint_s_disk_data_is_bounded_by_its_drives)
{
	with_image(0);
	struct stream s = begin();
	disk(&s, MIG_DISK_SIZE, DISK, 0, 0);
	checkpoint(&s, MIG_CKPT, 1);
	for (int i = 0; i < 3; i++)
		disk(&s, 0, 0, DISK, 0x77);
	state(&s);
	checkpoint(&s, MIG_CEND, 1);
	bool state;
	int e = follow(s, &state);
	CHECK_EQ(e, -EPROTO);
	CHECK(!state);
	CHECK_CONTAINS(err, "disk");
	take_down();
}

/* ---- console output across a takeover ---- */

static void console_checkpoint(struct stream *s, uint64_t epoch, const char *text)
{
	checkpoint(s, MIG_CKPT, epoch);
	state(s);
	msg(s, MIG_COUT, text, strlen(text), NULL, 0);
	checkpoint(s, MIG_CEND, epoch);
}

static void released(struct stream *s, uint64_t epoch)
{
	checkpoint(s, MIG_RELS, epoch);
}

static bool console_is(const char *text)
{
	return console_len == strlen(text) && !memcmp(console, text, console_len);
}

/* A primary killed after the standby acknowledged an epoch and before it wrote that epoch's
 * console output: the standby has the output, and writes it at takeover (none is lost). */
TEST(a_checkpoint_s_console_output_not_yet_written_is_kept_for_the_takeover)
{
	struct stream s = begin();
	console_checkpoint(&s, 1, "one\n");
	released(&s, 1);
	console_checkpoint(&s, 2, "two\n");   /* ... and the primary dies before writing it */
	bool state;
	CHECK_EQ(follow(s, &state), -ECONNRESET);
	CHECK(state);
	CHECK(console_is("two\n"));
	take_down();
}

/* Written by the primary (RELS): the standby writes nothing again. */
TEST(console_output_the_primary_wrote_is_not_written_again)
{
	struct stream s = begin();
	console_checkpoint(&s, 1, "one\n");
	released(&s, 1);
	whole_checkpoint(&s, 2);            /* an epoch without output */
	bool state;
	CHECK_EQ(follow(s, &state), -ECONNRESET);
	CHECK(state);
	CHECK_EQ(console_len, 0);
	take_down();
}

/* The output of a checkpoint that never ended is not the standby's: it runs from the one
 * before, whose guest makes that output again. */
TEST(an_incomplete_checkpoint_s_console_output_is_not_written)
{
	struct stream s = begin();
	console_checkpoint(&s, 1, "one\n");
	checkpoint(&s, MIG_CKPT, 2);
	state(&s);
	msg(&s, MIG_COUT, "two\n", 4, NULL, 0); /* ... and no CEND */
	bool state;
	CHECK_EQ(follow(s, &state), -ECONNRESET);
	CHECK(console_is("one\n"));        /* epoch 1's: never said written */
	take_down();
}

TEST(console_output_out_of_turn_is_refused)
{
	bool held;
	struct stream s = begin();
	whole_checkpoint(&s, 1);
	msg(&s, MIG_COUT, "x", 1, NULL, 0); /* between checkpoints */
	CHECK_EQ(follow(s, &held), -EPROTO);
	CHECK_CONTAINS(err, "console output outside a checkpoint");
	take_down();

	s = begin();
	checkpoint(&s, MIG_CKPT, 1);
	msg(&s, MIG_COUT, "x", 1, NULL, 0);
	msg(&s, MIG_COUT, "y", 1, NULL, 0); /* twice in one */
	CHECK_EQ(follow(s, &held), -EPROTO);
	take_down();

	s = begin();
	console_checkpoint(&s, 1, "one\n");
	released(&s, 2);                    /* an epoch it does not hold */
	CHECK_EQ(follow(s, &held), -EPROTO);
	CHECK_CONTAINS(err, "release of console output");
	take_down();

	s = begin();
	console_checkpoint(&s, 1, "one\n");
	released(&s, 1);
	released(&s, 1);                    /* twice */
	CHECK_EQ(follow(s, &held), -EPROTO);
	take_down();

	s = begin();
	checkpoint(&s, MIG_CKPT, 1);
	state(&s);
	struct mig_hdr h = { .type = MIG_COUT, .len = MIG_MAX_COUT + 1 };
	put(&s, &h, sizeof(h));             /* more than a checkpoint's output may be */
	CHECK_EQ(follow(s, &held), -EPROTO);
	take_down();
}

int main(int argc, char **argv)
{
	int r = unit_main(argc, argv);
	unlink(image);
	return r;
}
