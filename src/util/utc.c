/* UTC calendar arithmetic without the C library's time zone. See utc.h. */
#include "util/utc.h"

#include <stdio.h>

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Days from 1970-01-01 to year-month-day (month 1-12), any year: counted in 400-year eras of
 * 146097 days, each year begun on March 1 so that February's leap day is the year's last. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = floor_div(y, 400);
	int64_t yoe = y - era * 400;                                   /* [0, 399] */
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;  /* [0, 365] */
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;           /* [0, 146096] */
	return era * 146097 + doe - 719468;
}

void utc_from_epoch(int64_t sec, struct tm *tm)
{
	int64_t days = floor_div(sec, 86400), rem = sec - days * 86400;
	int64_t z = days + 719468;
	int64_t era = floor_div(z, 146097);
	int64_t doe = z - era * 146097;                                        /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;   /* [0, 399] */
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                  /* [0, 365] */
	int64_t mp = (5 * doy + 2) / 153;                                       /* [0, 11], March first */
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	int64_t y = yoe + era * 400 + (m <= 2);
	*tm = (struct tm){
		.tm_sec = (int)(rem % 60), .tm_min = (int)(rem / 60 % 60), .tm_hour = (int)(rem / 3600),
		.tm_mday = d, .tm_mon = m - 1, .tm_year = (int)(y - 1900),
		.tm_wday = (int)(days + 4 - floor_div(days + 4, 7) * 7),   /* 1970-01-01 was a Thursday */
		.tm_yday = (int)(days - days_from_civil(y, 1, 1)),
	};
}

int64_t utc_to_epoch(const struct tm *tm)
{
	int64_t years = floor_div(tm->tm_mon, 12);
	int64_t y = (int64_t)tm->tm_year + 1900 + years, mon = tm->tm_mon - years * 12;
	int64_t days = days_from_civil(y, (int)mon + 1, 1) + tm->tm_mday - 1;
	return days * 86400 + (int64_t)tm->tm_hour * 3600 + (int64_t)tm->tm_min * 60 + tm->tm_sec;
}

size_t utc_stamp(char *buf, size_t size, int64_t sec)
{
	if (!size)
		return 0;
	struct tm tm;
	utc_from_epoch(sec, &tm);
	int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return n < 0 ? 0 : (size_t)n >= size ? size - 1 : (size_t)n;
}
