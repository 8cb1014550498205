/* Unit tests for the token buckets (src/util/rate_limiter.c) on a simulated clock: the rate
 * achieved over a long run equals the configured one within 1% for refill times from 1 ms to
 * 10 s (the timer waits exactly for the deficit), bursts are spent first, an operation larger
 * than the bucket passes on a full bucket and leaves a debt, and the timer is armed. */
#include <sys/timerfd.h>

#include "unit.h"
#include "config/devices_config.h"
#include "util/rate_limiter.h"

#define MS 1000000ull
#define S 1000000000ull

static struct rate_limiter_config ops_cfg(uint64_t size, uint64_t refill_ms)
{
	struct rate_limiter_config c = { .present = true };
	c.ops = (struct token_bucket_config){ .present = true, .size = size, .refill_time = refill_ms };
	return c;
}

/* Run operations of `bytes` as fast as the limiter allows for `span` ns of simulated time. */
static uint64_t run(struct rate_limiter *rl, uint64_t bytes, uint64_t span)
{
	uint64_t t = 1 * S, end = t + span, n = 0;
	while (t < end) {
		if (rate_limiter_consume(rl, bytes, t)) {
			n++;
			continue;
		}
		uint64_t w = rate_limiter_wait_ns(rl, bytes, t);
		CHECK(w > 0);
		t += w;
		rate_limiter_timer_event(rl);
	}
	return n;
}

TEST(ops_rate_across_refill_times)
{
	static const uint64_t refills[] = { 1, 10, 100, 1000, 10000 };
	static const uint64_t sizes[] = { 1, 10, 1000 };
	for (unsigned i = 0; i < sizeof(refills) / sizeof(refills[0]); i++)
		for (unsigned j = 0; j < sizeof(sizes) / sizeof(sizes[0]); j++) {
			struct rate_limiter rl;
			struct rate_limiter_config c = ops_cfg(sizes[j], refills[i]);
			REQUIRE_EQ(rate_limiter_init(&rl, &c, 1 * S), 0);
			uint64_t span = 100 * refills[i] * MS; /* 100 refills */
			uint64_t got = run(&rl, 0, span);
			/* a full bucket at the start, then size per refill time */
			uint64_t want = sizes[j] + 100 * sizes[j];
			CHECK(got * 100 >= want * 99 && got * 100 <= want * 101);
			rate_limiter_destroy(&rl);
		}
}

TEST(bandwidth_rate)
{
	struct rate_limiter_config c = { .present = true };
	c.bandwidth = (struct token_bucket_config){ .present = true, .size = 1 << 20, .refill_time = 100 };
	struct rate_limiter rl;
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 1 * S), 0);
	uint64_t n = run(&rl, 4096, 10 * S); /* 10 MiB/s for 10 s, plus the first full bucket */
	uint64_t bytes = n * 4096, want = 101ull << 20;
	CHECK(bytes * 100 >= want * 99 && bytes * 100 <= want * 101);
	rate_limiter_destroy(&rl);
}

TEST(one_time_burst_first)
{
	struct rate_limiter_config c = ops_cfg(10, 1000);
	c.ops.has_one_time_burst = true;
	c.ops.one_time_burst = 50;
	struct rate_limiter rl;
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 1 * S), 0);
	unsigned n = 0;
	while (rate_limiter_consume(&rl, 0, 1 * S))
		n++;
	CHECK_EQ(n, 60); /* the burst, then the full bucket, at one instant */
	rate_limiter_destroy(&rl);
}

TEST(larger_than_the_bucket)
{
	struct rate_limiter_config c = { .present = true };
	c.bandwidth = (struct token_bucket_config){ .present = true, .size = 1000, .refill_time = 1000 };
	struct rate_limiter rl;
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 1 * S), 0);
	CHECK(rate_limiter_consume(&rl, 3000, 1 * S));             /* full bucket: passes */
	CHECK(!rate_limiter_consume(&rl, 1, 1 * S));               /* 2000 in debt */
	CHECK_EQ(rate_limiter_wait_ns(&rl, 1, 1 * S), 2 * S + 1 * MS); /* repay 2000, earn 1 */
	struct itimerspec its;
	REQUIRE_EQ(timerfd_gettime(rl.timer_fd, &its), 0);
	CHECK(its.it_value.tv_sec >= 1); /* armed for the deficit, about 2 s */
	CHECK(rl.blocked && rl.throttled == 1);
	rate_limiter_destroy(&rl);
}

TEST(unlimited_and_update)
{
	struct rate_limiter rl;
	REQUIRE_EQ(rate_limiter_init(&rl, NULL, 0), 0);
	CHECK(!rate_limiter_active(&rl));
	CHECK_EQ(rl.timer_fd, -1);
	for (int i = 0; i < 1000; i++)
		CHECK(rate_limiter_consume(&rl, 1 << 20, 0));
	struct rate_limiter_config c = ops_cfg(1, 1000);
	REQUIRE_EQ(rate_limiter_update(&rl, &c, 5 * S), 0);
	CHECK(rate_limiter_active(&rl) && rl.timer_fd >= 0);
	CHECK(rate_limiter_consume(&rl, 0, 5 * S));
	CHECK(!rate_limiter_consume(&rl, 0, 5 * S));
	/* size 0 means unlimited, as in Firecracker */
	struct rate_limiter_config z = ops_cfg(0, 1000);
	REQUIRE_EQ(rate_limiter_update(&rl, &z, 5 * S), 0);
	CHECK(rate_limiter_consume(&rl, 0, 5 * S));
	rate_limiter_destroy(&rl);
}

/* PATCH as Firecracker does it (its BucketUpdate): a bucket left out keeps its limit and what
 * it holds; an empty limiter changes nothing; only a bucket given is replaced (full). */
TEST(a_bucket_left_out_of_an_update_is_kept)
{
	struct rate_limiter rl;
	struct rate_limiter_config c = ops_cfg(1, 1000);
	c.bandwidth = (struct token_bucket_config){ .present = true, .size = 1 << 20, .refill_time = 1000 };
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 0), 0);
	CHECK(rate_limiter_consume(&rl, 4096, 1 * S));
	CHECK(!rate_limiter_consume(&rl, 4096, 1 * S));   /* the ops bucket is empty */
	struct rate_limiter_config empty = { .present = true };
	REQUIRE_EQ(rate_limiter_update(&rl, &empty, 1 * S), 0);
	CHECK(!rate_limiter_consume(&rl, 4096, 1 * S));   /* nothing changed */
	struct rate_limiter_config bw = { .present = true };
	bw.bandwidth = (struct token_bucket_config){ .present = true, .size = 1 << 30, .refill_time = 1000 };
	REQUIRE_EQ(rate_limiter_update(&rl, &bw, 1 * S), 0);
	CHECK(rl.bw.active && rl.ops.active);
	CHECK(!rate_limiter_consume(&rl, 4096, 1 * S));   /* the ops bucket is still empty */
	struct rate_limiter_config ops_off = { .present = true, .ops = { .present = true } };
	REQUIRE_EQ(rate_limiter_update(&rl, &ops_off, 1 * S), 0);
	CHECK(!rl.ops.active && rl.bw.active);
	CHECK(rate_limiter_consume(&rl, 4096, 1 * S));
	rate_limiter_destroy(&rl);
}

/* The configuration a PATCH leaves (what GET /vm/config and a snapshot say) follows the same
 * rule; a limiter left with no bucket is null again. */
TEST(a_patched_limiter_config_keeps_what_was_left_out)
{
	struct rate_limiter_config cur = ops_cfg(10, 100), patch = { .present = true };
	patch.bandwidth = (struct token_bucket_config){ .present = true, .size = 4096, .refill_time = 10 };
	rate_limiter_config_patch(&cur, &patch);
	CHECK(cur.present && cur.ops.present && cur.bandwidth.present);
	CHECK_EQ(cur.ops.size, 10);
	CHECK_EQ(cur.bandwidth.size, 4096);
	struct rate_limiter_config off = { .present = true, .ops = { .present = true }, .bandwidth = { .present = true } };
	rate_limiter_config_patch(&cur, &off);
	CHECK(!cur.present && !cur.ops.present && !cur.bandwidth.present);
	struct rate_limiter_config absent = { 0 };
	struct rate_limiter_config keep = ops_cfg(3, 30);
	rate_limiter_config_patch(&keep, &absent);
	CHECK(keep.present && keep.ops.size == 3);
}

/* The I/O thread wakes up late (scheduling latency, timer slack): the waiting operation is
 * charged as of its due time, so a bucket of one operation per millisecond still gives 1000
 * per second when every wake-up is 0.4 ms late (a cap at the bucket's size would lose the
 * lateness: about 714 per second), and lateness never adds up to more than the bucket. */
TEST(late_wakeups_keep_the_rate)
{
	struct rate_limiter rl;
	struct rate_limiter_config c = ops_cfg(1, 1);
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 0), 0);
	uint64_t t = 0, n = 0;
	while (t < 1 * S) {
		if (rate_limiter_consume(&rl, 0, t)) {
			n++;
			continue;
		}
		t += rate_limiter_wait_ns(&rl, 0, t) + 400000;   /* due, plus 0.4 ms late */
		rate_limiter_timer_event(&rl);
	}
	CHECK(n >= 995 && n <= 1001);
	CHECK(rate_limiter_consume(&rl, 0, t));    /* the one that waited, 0.4 ms late */
	/* a release 10 s late is charged at its due time, then the cap applies: that operation,
	 * the bucket's one refilled since, and no more */
	CHECK(!rate_limiter_consume(&rl, 0, t));
	t += 10 * S;
	rate_limiter_timer_event(&rl);
	CHECK(rate_limiter_consume(&rl, 0, t));
	CHECK(rate_limiter_consume(&rl, 0, t));
	CHECK(!rate_limiter_consume(&rl, 0, t));
	rate_limiter_destroy(&rl);
}

/* ---- the largest values the parser accepts (INT64_MAX sizes and refill times) ---- */

/* refill_time * 10^6 does not fit in 64 bits: the bucket must stay (at least) that slow, not
 * wrap to a refill time of a fraction of a millisecond. */
TEST(refill_time_beyond_64_bit_nanoseconds)
{
	struct rate_limiter rl;
	struct rate_limiter_config c = ops_cfg(1, 18446744073710ull); /* * 10^6 wraps to 448384 ns */
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 1 * S), 0);
	CHECK(rate_limiter_consume(&rl, 0, 1 * S));     /* the full bucket: one operation */
	rate_limiter_timer_event(&rl);
	CHECK(!rate_limiter_consume(&rl, 0, 2 * S));    /* not another one a second later */
	rate_limiter_timer_event(&rl);
	CHECK(!rate_limiter_consume(&rl, 0, 3600 * S)); /* nor an hour later */
	rate_limiter_destroy(&rl);
}

/* The largest size and a refill time of ~584 years: a full bucket that stays idle must stay
 * full, not overflow its budget into a debt. */
TEST(huge_bucket_idle_stays_full)
{
	struct rate_limiter rl;
	struct rate_limiter_config c = ops_cfg(INT64_MAX, 18446744073709ull);
	c.bandwidth = (struct token_bucket_config){ .present = true, .size = INT64_MAX, .refill_time = INT64_MAX };
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 1 * S), 0);
	CHECK(rate_limiter_consume(&rl, 4096, 1 * S));
	CHECK(rate_limiter_consume(&rl, 4096, 1000 * S));   /* idle for 1000 s: still plenty */
	CHECK(rate_limiter_consume(&rl, 4096, 100000 * S));
	CHECK_EQ(rl.throttled, 0);
	rate_limiter_destroy(&rl);
}

/* A debt far larger than size * 2^64 ns: the wait must not wrap to something short. */
TEST(wait_for_a_huge_debt_does_not_wrap)
{
	struct rate_limiter rl;
	struct rate_limiter_config c = { .present = true };
	c.bandwidth = (struct token_bucket_config){ .present = true, .size = 1, .refill_time = 10000000000ull };
	REQUIRE_EQ(rate_limiter_init(&rl, &c, 1 * S), 0);
	CHECK(rate_limiter_consume(&rl, 1ull << 20, 1 * S)); /* full bucket: passes into debt */
	/* 2^20 tokens at 10^16 ns each: far beyond 64 bits of nanoseconds */
	CHECK_EQ(rate_limiter_wait_ns(&rl, 1, 1 * S), UINT64_MAX);
	rate_limiter_destroy(&rl);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
