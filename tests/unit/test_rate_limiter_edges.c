/* Edge cases of the token buckets (src/util/rate_limiter.c) the API lets a client configure:
 * the largest values the JSON parser accepts (size and refill_time up to INT64_MAX) must not
 * wrap the arithmetic into a different rate or a wait that is far too short. */
#include "unit.h"
#include "util/rate_limiter.h"

#define MS 1000000ull
#define S 1000000000ull

static struct rate_limiter_config ops_cfg(uint64_t size, uint64_t refill_ms)
{
	struct rate_limiter_config c = { .present = true };
	c.ops = (struct token_bucket_config){ .present = true, .size = size, .refill_time = refill_ms };
	return c;
}

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
