/* Unit tests for the CMOS RTC (src/devices/legacy/rtc.c) driven through its bus callbacks: the
 * time in BCD, binary and 12-hour modes, setting it as Linux does, the SET bit, the index and
 * control registers, and the memory size in NVRAM. No KVM. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "devices/legacy/rtc.h"
#include "util/log.h"
#include "unit.h"
#include "rtc_io.h"

static unsigned bcd(uint8_t v) { return (v >> 4) * 10 + (v & 15); }

/* Read the guest's clock from the registers (any mode) as a time_t. */
static time_t rtc_time(struct rtc *r)
{
	uint8_t b = rtc_get(r, 0x0b);
	struct tm tm = { 0 };
#define D(v) ((b & 0x04) ? (unsigned)(v) : bcd(v))
	tm.tm_sec = (int)D(rtc_get(r, 0));
	tm.tm_min = (int)D(rtc_get(r, 2));
	uint8_t h = rtc_get(r, 4);
	if (b & 0x02)
		tm.tm_hour = (int)D(h);
	else
		tm.tm_hour = (int)(D(h & 0x7f) % 12) + ((h & 0x80) ? 12 : 0);
	tm.tm_mday = (int)D(rtc_get(r, 7));
	tm.tm_mon = (int)D(rtc_get(r, 8)) - 1;
	tm.tm_year = (int)(D(rtc_get(r, RTC_CENTURY_REG)) * 100 + D(rtc_get(r, 9))) - 1900;
#undef D
	return timegm(&tm);
}

static long long absdiff(time_t a, time_t b) { return a > b ? (long long)(a - b) : (long long)(b - a); }

TEST(rtc_bcd_time_matches_host)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	CHECK_EQ_HEX(rtc_get(&r, 0x0b), 0x02); /* BCD, 24 h */
	time_t now = time(NULL);
	time_t t = rtc_time(&r);
	CHECK(absdiff(t, now) <= 2);
	/* registers are valid BCD and in range */
	uint8_t sec = rtc_get(&r, 0), min = rtc_get(&r, 2), hour = rtc_get(&r, 4);
	CHECK((sec & 0x0f) <= 9 && bcd(sec) < 60);
	CHECK((min & 0x0f) <= 9 && bcd(min) < 60);
	CHECK((hour & 0x0f) <= 9 && bcd(hour) < 24);
	struct tm tm, tm1, tm2;
	gmtime_r(&now, &tm);
	/* day of week: 1 = Sunday */
	time_t t1 = rtc_time(&r);
	uint8_t wday = rtc_get(&r, 6);
	time_t t2 = rtc_time(&r);
	gmtime_r(&t1, &tm1);
	gmtime_r(&t2, &tm2);
	CHECK(bcd(wday) >= 1 && bcd(wday) <= 7);
	if (tm1.tm_wday == tm2.tm_wday) /* not racing midnight */
		CHECK_EQ(bcd(wday), tm1.tm_wday + 1);
	CHECK_EQ_HEX(rtc_get(&r, RTC_CENTURY_REG), ((tm.tm_year + 1900) / 100 / 10) << 4 |
						   ((tm.tm_year + 1900) / 100 % 10));
}

TEST(rtc_binary_and_12h_modes)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	rtc_set(&r, 0x0b, 0x06); /* binary, 24 h */
	time_t now = time(NULL);
	CHECK(absdiff(rtc_time(&r), now) <= 2);
	struct tm tm;
	gmtime_r(&now, &tm);
	CHECK_EQ(rtc_get(&r, 9), tm.tm_year % 100);
	CHECK_EQ(rtc_get(&r, RTC_CENTURY_REG), (tm.tm_year + 1900) / 100);

	rtc_set(&r, 0x0b, 0x04); /* binary, 12 h */
	CHECK(absdiff(rtc_time(&r), now) <= 2);
	uint8_t h = rtc_get(&r, 4);
	CHECK((h & 0x7f) >= 1 && (h & 0x7f) <= 12);
	rtc_set(&r, 0x0b, 0x00); /* BCD, 12 h */
	CHECK(absdiff(rtc_time(&r), now) <= 2);
	h = rtc_get(&r, 4);
	CHECK(bcd(h & 0x7f) >= 1 && bcd(h & 0x7f) <= 12);

	/* 12 h encodings: set hours in 12 h mode and read back in 24 h mode */
	static const struct { uint8_t reg12; int hour24; } cases[] = {
		{ 0x12, 0 }, { 0x01, 1 }, { 0x11, 11 }, { 0x92, 12 }, { 0x81, 13 }, { 0x91, 23 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rtc_set(&r, 0x0b, 0x00);
		rtc_set(&r, 4, cases[i].reg12);
		CHECK_EQ_HEX(rtc_get(&r, 4), cases[i].reg12);
		rtc_set(&r, 0x0b, 0x02);
		CHECK_EQ(bcd(rtc_get(&r, 4)), cases[i].hour24);
	}
}

TEST(rtc_set_time_shifts_offset)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	rtc_set(&r, 9, 0x99); /* year 2099 (BCD, century stays 20) */
	CHECK_EQ_HEX(rtc_get(&r, 9), 0x99);
	CHECK_EQ_HEX(rtc_get(&r, RTC_CENTURY_REG), 0x20);
	CHECK(r.st.offset_sec > 50ll * 365 * 86400);
	rtc_set(&r, RTC_CENTURY_REG, 0x19); /* 1999 */
	CHECK_EQ_HEX(rtc_get(&r, RTC_CENTURY_REG), 0x19);
	CHECK_EQ_HEX(rtc_get(&r, 9), 0x99);
	CHECK(r.st.offset_sec < 0);
	rtc_set(&r, 2, 0x42);
	CHECK_EQ_HEX(rtc_get(&r, 2), 0x42);
	rtc_set(&r, 4, 0x23);
	CHECK_EQ_HEX(rtc_get(&r, 4), 0x23);
	/* the clock keeps running from there: the offset is what persists */
	time_t want = time(NULL) + r.st.offset_sec;
	CHECK(absdiff(rtc_time(&r), want) <= 2);
	/* the weekday register cannot be set */
	uint8_t wd = rtc_get(&r, 6);
	int64_t off = r.st.offset_sec;
	rtc_set(&r, 6, (uint8_t)(wd == 1 ? 2 : 1));
	CHECK_EQ(r.st.offset_sec, off);
}

/* Set the guest clock to a date the way Linux's mc146818_set_time does: SET on, then year,
 * month, day, hours, minutes, seconds, century, then SET off. */
static void linux_set_time(struct rtc *r, int year, int mon, int mday, int h, int m, int s)
{
	uint8_t b = rtc_get(r, 0x0b);
	rtc_set(r, 0x0b, b | 0x80);
#define E(v) ((b & 0x04) ? (uint8_t)(v) : (uint8_t)(((v) / 10) << 4 | ((v) % 10)))
	rtc_set(r, 9, E(year % 100));
	rtc_set(r, 8, E(mon));
	rtc_set(r, 7, E(mday));
	rtc_set(r, 4, E(h));
	rtc_set(r, 2, E(m));
	rtc_set(r, 0, E(s));
	rtc_set(r, RTC_CENTURY_REG, E(year / 100));
#undef E
	rtc_set(r, 0x0b, b);
}

static time_t utc(int year, int mon, int mday, int h, int m, int s)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = mday,
			 .tm_hour = h, .tm_min = m, .tm_sec = s };
	return timegm(&tm);
}

TEST(rtc_set_time_like_linux)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	linux_set_time(&r, 2031, 1, 31, 10, 20, 30);
	CHECK(absdiff(rtc_time(&r), utc(2031, 1, 31, 10, 20, 30)) <= 2);
	/* Jan 31 -> Feb 15: a one-register-at-a-time clock would pass through "Feb 31" = Mar 3 */
	linux_set_time(&r, 2031, 2, 15, 8, 0, 0);
	CHECK_EQ_HEX(rtc_get(&r, 8), 0x02);
	CHECK_EQ_HEX(rtc_get(&r, 7), 0x15);
	CHECK(absdiff(rtc_time(&r), utc(2031, 2, 15, 8, 0, 0)) <= 2);
	/* Mar 31 -> Apr 30 and a leap day */
	linux_set_time(&r, 2032, 3, 31, 0, 0, 0);
	linux_set_time(&r, 2032, 4, 30, 23, 59, 58);
	CHECK(absdiff(rtc_time(&r), utc(2032, 4, 30, 23, 59, 58)) <= 2);
	linux_set_time(&r, 2032, 2, 29, 12, 0, 0);
	CHECK(absdiff(rtc_time(&r), utc(2032, 2, 29, 12, 0, 0)) <= 2);
	/* binary mode and another century */
	rtc_set(&r, 0x0b, 0x06);
	linux_set_time(&r, 2104, 7, 4, 1, 2, 3);
	CHECK(absdiff(rtc_time(&r), utc(2104, 7, 4, 1, 2, 3)) <= 2);
	CHECK_EQ(rtc_get(&r, RTC_CENTURY_REG), 21);
}

TEST(rtc_set_bit_freezes_registers)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	rtc_set(&r, 0x0b, 0x82);
	CHECK_EQ_HEX(rtc_get(&r, 0x0b), 0x82);
	rtc_set(&r, 0, 0x00);
	rtc_set(&r, 2, 0x37);
	rtc_set(&r, 4, 0x21);
	/* reads return what was written while SET holds the clock */
	CHECK_EQ_HEX(rtc_get(&r, 0), 0x00);
	CHECK_EQ_HEX(rtc_get(&r, 2), 0x37);
	CHECK_EQ_HEX(rtc_get(&r, 4), 0x21);
	int64_t off = r.st.offset_sec;
	rtc_set(&r, 0x0b, 0x02); /* the clock starts from 21:37:00 */
	CHECK(r.st.offset_sec != off || rtc_get(&r, 2) == 0x37);
	CHECK_EQ_HEX(rtc_get(&r, 2), 0x37);
	CHECK_EQ_HEX(rtc_get(&r, 4), 0x21);
	CHECK(bcd(rtc_get(&r, 0)) <= 2);
}

TEST(rtc_index_and_control_registers)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	/* bit 7 of the index is the NMI mask: ignored */
	CHECK_EQ_HEX(rtc_get(&r, 0x80 | 0x0b), 0x02);
	CHECK_EQ_HEX(r.st.index, 0x0b);
	rtc_set(&r, 0x80 | 0x40, 0x5a);
	CHECK_EQ_HEX(rtc_get(&r, 0x40), 0x5a);
	CHECK_EQ_HEX(rtc_get(&r, 0xc0), 0x5a);
	rtc_set(&r, 0x7f, 0x77);
	CHECK_EQ_HEX(rtc_get(&r, 0x7f), 0x77);
	/* register A never says "update in progress" */
	rtc_set(&r, 0x0a, 0xa6);
	CHECK_EQ_HEX(rtc_get(&r, 0x0a), 0x26);
	/* register D: valid RAM and time, read-only */
	CHECK_EQ_HEX(rtc_get(&r, 0x0d), 0x80);
	rtc_set(&r, 0x0d, 0x00);
	CHECK_EQ_HEX(rtc_get(&r, 0x0d), 0x80);
	/* register C: flags clear on read, read-only */
	r.st.cmos[0x0c] = 0x90;
	CHECK_EQ_HEX(rtc_get(&r, 0x0c), 0x90);
	CHECK_EQ_HEX(rtc_get(&r, 0x0c), 0x00);
	rtc_set(&r, 0x0c, 0xff);
	CHECK_EQ_HEX(rtc_get(&r, 0x0c), 0x00);
	/* alarm registers are plain storage */
	int64_t off = r.st.offset_sec;
	rtc_set(&r, 1, 0x30);
	rtc_set(&r, 3, 0x31);
	rtc_set(&r, 5, 0x12);
	CHECK_EQ_HEX(rtc_get(&r, 1), 0x30);
	CHECK_EQ_HEX(rtc_get(&r, 3), 0x31);
	CHECK_EQ_HEX(rtc_get(&r, 5), 0x12);
	CHECK_EQ(r.st.offset_sec, off);
	/* the index port reads 0xff; a 2-byte access at 0x70 sets the index then reads data */
	uint8_t v;
	rtc_io_read(&r, 0, &v, 1);
	CHECK_EQ_HEX(v, 0xff);
	uint8_t two[2] = { 0x40, 0x00 };
	rtc_io_write(&r, 0, two, 1);
	rtc_io_read(&r, 0, two, 2);
	CHECK_EQ_HEX(two[0], 0xff);
	CHECK_EQ_HEX(two[1], 0x5a);
}

TEST(rtc_memory_size_nvram)
{
	struct rtc r;
	rtc_init(&r, 128 << 20, 0);
	/* KiB above 1 MiB (clamped to 0xffff), 64 KiB blocks above 16 MiB */
	CHECK_EQ_HEX(rtc_get(&r, 0x30) | rtc_get(&r, 0x31) << 8, 0xffff);
	CHECK_EQ_HEX(rtc_get(&r, 0x17) | rtc_get(&r, 0x18) << 8, 0xffff);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, (128 - 16) * 16);
	CHECK_EQ_HEX(rtc_get(&r, 0x5b) | rtc_get(&r, 0x5c) << 8 | rtc_get(&r, 0x5d) << 16, 0);
	rtc_init(&r, 32 << 20, 0);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, 16 * 16);
	rtc_init(&r, 16 << 20, 0);
	CHECK_EQ_HEX(rtc_get(&r, 0x30) | rtc_get(&r, 0x31) << 8, 15 * 1024);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, 0);
	/* 8 GiB guest: 3 GiB below the MMIO hole, 5 GiB above 4 GiB */
	rtc_init(&r, 3ull << 30, 5ull << 30);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, ((3ull << 30) - (16 << 20)) >> 16);
	CHECK_EQ_HEX(rtc_get(&r, 0x5b) | rtc_get(&r, 0x5c) << 8 | rtc_get(&r, 0x5d) << 16,
		     (5ull << 30) >> 16);
}

TEST(rtc_cmos_as_qemu_pc_for_seabios)
{
	struct rtc r;
	/* 2 GiB, 4 vCPUs: SeaBIOS reads the base memory, the sizes and CMOS_BIOS_SMP_COUNT */
	rtc_init(&r, 2ull << 30, 0);
	CHECK_EQ_HEX(rtc_get(&r, 0x15) | rtc_get(&r, 0x16) << 8, 640);
	CHECK_EQ_HEX(rtc_get(&r, 0x5f), 0);
	rtc_set_vcpus(&r, 4);
	CHECK_EQ_HEX(rtc_get(&r, 0x5f), 3);
	CHECK_EQ_HEX(rtc_get(&r, 0x34) | rtc_get(&r, 0x35) << 8, ((2ull << 30) - (16 << 20)) >> 16);
	rtc_set_vcpus(&r, 0);                       /* nonsense stays in range */
	CHECK_EQ_HEX(rtc_get(&r, 0x5f), 0);
	rtc_set_vcpus(&r, 288);
	CHECK_EQ_HEX(rtc_get(&r, 0x5f), 287 & 0xff);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF);
	return unit_main(argc, argv);
}
