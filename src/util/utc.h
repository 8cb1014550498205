/* UTC calendar arithmetic without the C library's time zone. glibc's gmtime_r, timegm and
 * strftime read the time zone on their first use (tzset: /etc/localtime) though UTC needs
 * none, and a thread whose seccomp filter opens no file (a vCPU's, the I/O thread's) may be
 * the first to stamp a log line or read the guest's RTC. These are plain arithmetic on the
 * proleptic Gregorian calendar, the same answers as gmtime_r and timegm
 * (tests/unit/test_utc.c compares them over centuries). */
#ifndef PETREL_UTIL_UTC_H
#define PETREL_UTIL_UTC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* As gmtime_r: year, month, day, time of day, weekday and day of the year of `sec`. */
void utc_from_epoch(int64_t sec, struct tm *tm);
/* As timegm: the seconds since the epoch of tm's fields, which may be out of their ranges
 * (February 31 is March 2 or 3, hour 25 the next day's 1 o'clock); tm is not changed. */
int64_t utc_to_epoch(const struct tm *tm);
/* `sec` as "YYYY-MM-DDTHH:MM:SS" into buf; its length (0 when size is 0). */
size_t utc_stamp(char *buf, size_t size, int64_t sec);

#endif
