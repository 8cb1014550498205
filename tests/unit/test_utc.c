/* UTC calendar arithmetic (src/util/utc.c) against glibc's gmtime_r and timegm, which the test
 * process may call (it has no seccomp filter): every day from 1600 to 2500, times of day, and
 * out-of-range fields as the RTC's registers can give them. */
#include <time.h>

#include "util/utc.h"
#include "unit.h"

static bool same_tm(const struct tm *a, const struct tm *b)
{
	return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday &&
	       a->tm_hour == b->tm_hour && a->tm_min == b->tm_min && a->tm_sec == b->tm_sec &&
	       a->tm_wday == b->tm_wday && a->tm_yday == b->tm_yday;
}

TEST(every_day_from_1600_to_2500_matches_gmtime)
{
	const int64_t from = -11676096000LL, to = 16725225600LL;   /* 1600-01-01, 2500-01-01 */
	unsigned bad = 0;
	for (int64_t t = from; t < to && bad < 5; t += 86400 + 3607) {   /* the time of day moves too */
		struct tm ours, libc;
		time_t tt = (time_t)t;
		utc_from_epoch(t, &ours);
		gmtime_r(&tt, &libc);
		if (!same_tm(&ours, &libc)) {
			fprintf(stderr, "  %lld: %d-%d-%d wday %d yday %d, gmtime %d-%d-%d wday %d yday %d\n",
				(long long)t, ours.tm_year, ours.tm_mon, ours.tm_mday, ours.tm_wday, ours.tm_yday,
				libc.tm_year, libc.tm_mon, libc.tm_mday, libc.tm_wday, libc.tm_yday);
			bad++;
		}
		CHECK_EQ(utc_to_epoch(&ours), t);
	}
	CHECK_EQ(bad, 0);
}

TEST(out_of_range_fields_normalize_as_timegm_does)
{
	/* February 31, hour 25, minute -1, month 13 and -1, day 0: what a guest writing the RTC's
	 * registers one at a time may leave for a moment */
	const int fields[][6] = {
		{ 126, 1, 31, 12, 0, 0 }, { 126, 0, 1, 25, 0, 0 }, { 126, 5, 15, 0, -1, 0 },
		{ 126, 12, 1, 0, 0, 0 }, { 126, -1, 1, 0, 0, 0 }, { 126, 2, 0, 0, 0, 0 },
		{ 100, 1, 29, 23, 59, 60 }, { 0, 0, 1, 0, 0, 0 }, { 199, 11, 31, 23, 59, 59 },
		{ 70, 0, 1, 0, 0, 0 }, { 69, 11, 31, 23, 59, 59 }, { 126, 25, 40, 30, 70, -5 },
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const int *f = fields[i];
		struct tm tm = { .tm_year = f[0], .tm_mon = f[1], .tm_mday = f[2], .tm_hour = f[3],
				 .tm_min = f[4], .tm_sec = f[5] };
		struct tm copy = tm;
		CHECK_EQ(utc_to_epoch(&tm), (int64_t)timegm(&copy));
	}
}

TEST(stamp_is_iso_8601_without_a_zone)
{
	char buf[32];
	CHECK_EQ(utc_stamp(buf, sizeof(buf), 1795882410), 19);   /* 2026-11-28T16:13:30 */
	CHECK_STR_EQ(buf, "2026-11-28T16:13:30");
	CHECK_EQ(utc_stamp(buf, sizeof(buf), 0), 19);
	CHECK_STR_EQ(buf, "1970-01-01T00:00:00");
	CHECK_EQ(utc_stamp(buf, 5, 0), 4);
	CHECK_STR_EQ(buf, "1970");
	CHECK_EQ(utc_stamp(buf, 0, 0), 0);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
