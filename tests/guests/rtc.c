/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rtc: reads the CMOS clock (waiting out update-in-progress, BCD or binary,
 * 12/24 h per status B) and prints "rtc epoch=SECONDS" for the test to
 * compare with the host's UTC clock.  Runs in ring 3.
 */
#include "guest.h"

DEFINE_GUEST("rtc");

static struct rtc_time t;
static uint8_t sa, sb, sd;

static long read_clock(long unused)
{
	sa = rtc_read(0x0a);
	sb = rtc_read(0x0b);
	sd = rtc_read(0x0d);
	return rtc_read_time(&t);
}

void test_main(void)
{
	bool stable = user_call(read_clock, 0, 0);
	printf("rtc: status a=%x b=%x d=%x (%s, %s)\n", sa, sb, sd, (sb & 4) ? "binary" : "bcd",
	       (sb & 2) ? "24h" : "12h");
	printf("rtc: %04d-%02d-%02d %02d:%02d:%02d\n", t.year, t.month, t.day, t.hour, t.min, t.sec);
	check(stable, "clock never read the same twice");
	check(sd & 0x80, "status D: VRT (valid RAM and time) bit clear");
	check(t.month >= 1 && t.month <= 12 && t.day >= 1 && t.day <= 31 && t.hour < 24 && t.min < 60 && t.sec < 60,
	      "invalid date/time");
	printf("rtc epoch=%ld\n", (long)rtc_to_epoch(&t));
	pass();
}
