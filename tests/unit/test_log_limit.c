/* Unit tests for the per-call-site log budget (log_limit_take, log_limited in util/log.h):
 * what a guest can make petrel log over and over is bounded. */
#include <string.h>
#include <time.h>

#include "unit.h"
#include "util/log.h"

TEST(burst_then_drop_then_report)
{
	struct log_limit l = { .window_ns = 200 * 1000000ull };
	unsigned dropped = 99, passed = 0;
	for (int i = 0; i < 1000; i++)
		if (log_limit_take(&l, &dropped)) {
			passed++;
			CHECK_EQ(dropped, 0);
		}
	CHECK_EQ(passed, LOG_LIMIT_BURST);
	struct timespec ts = { 0, 250 * 1000000 };
	nanosleep(&ts, NULL);
	REQUIRE(log_limit_take(&l, &dropped));
	CHECK_EQ(dropped, 1000 - LOG_LIMIT_BURST); /* the next line says how many went */
	REQUIRE(log_limit_take(&l, &dropped));
	CHECK_EQ(dropped, 0);
}

TEST(macro_writes_at_most_the_burst)
{
	char buf[256];
	for (int i = 0; i < 50; i++) {
		log_capture_begin(buf, sizeof(buf));
		buf[0] = 0;
		log_limited(LOG_ERROR, "flood %d", i);
		log_capture_end();
		if (i < LOG_LIMIT_BURST)
			CHECK(strstr(buf, "flood") != NULL);
		else
			CHECK_EQ(buf[0], 0);
	}
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
