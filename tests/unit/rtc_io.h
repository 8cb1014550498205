/* The CMOS RTC's index/data ports from the unit tests (test_rtc.c, test_machine_reset.c). */
#ifndef PETREL_TESTS_UNIT_RTC_IO_H
#define PETREL_TESTS_UNIT_RTC_IO_H

#include "devices/legacy/rtc.h"

static inline uint8_t rtc_get(struct rtc *r, uint8_t idx)
{
	uint8_t v = 0xee;
	rtc_io_write(r, 0, &idx, 1);
	rtc_io_read(r, 1, &v, 1);
	return v;
}

static inline void rtc_set(struct rtc *r, uint8_t idx, uint8_t v)
{
	rtc_io_write(r, 0, &idx, 1);
	rtc_io_write(r, 1, &v, 1);
}

#endif
