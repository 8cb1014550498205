/* Calendar expressions (backup_calendar.h): systemd's OnCalendar subset, written from
 * systemd.time(7)'s description. An expression is parsed into one set of allowed values per
 * field; the next time is found field by field from the year down (the smallest allowed value
 * not before the current one; none: carry into the field above), in the local time zone or UTC,
 * and converted back with mktime, which tells a skipped local time from a real one. */
#include "manager/backup_calendar.h"
#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const day_names[7][2] = {
	{ "Sun", "Sunday" }, { "Mon", "Monday" }, { "Tue", "Tuesday" }, { "Wed", "Wednesday" },
	{ "Thu", "Thursday" }, { "Fri", "Friday" }, { "Sat", "Saturday" },
};

/* Bit v of a set of at most 256 values. */
static void set_bit(uint64_t *w, unsigned v)
{
	w[v / 64] |= 1ull << (v % 64);
}

static bool has_bit(const uint64_t *w, unsigned v)
{
	return w[v / 64] >> (v % 64) & 1;
}

/* A number of at most 4 digits at *p: its value, -1 when there is none. */
static long number(const char **p)
{
	const char *s = *p;
	long v = 0;
	int n = 0;
	while (isdigit((unsigned char)s[n]) && n < 5)
		v = v * 10 + (s[n++] - '0');
	if (n == 0 || n > 4)
		return -1;
	*p = s + n;
	return v;
}

/* One field of the date or the time, text[0..len): "*" or a list of "a", "a..b", "a/n", "a..b/n",
 * "*\/n", each value from lo to hi, into the set w (bit v - lo). */
static int field(const char *text, size_t len, long lo, long hi, const char *what, uint64_t *w, char *err,
		 size_t errlen)
{
	char buf[CAL_TEXT_MAX + 1];
	if (len == 0 || len > CAL_TEXT_MAX)
		return error_set(err, errlen, -EINVAL, "%s: empty", what);
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		const char *p = item;
		long a, b, step = 1;
		if (*p == '*') {
			a = lo, b = hi;
			p++;
		} else {
			if ((a = number(&p)) < 0)
				return error_set(err, errlen, -EINVAL, "%s: '%s' is no number", what, item);
			b = a;
			if (!strncmp(p, "..", 2)) {
				p += 2;
				if ((b = number(&p)) < 0)
					return error_set(err, errlen, -EINVAL, "%s: '%s': a range ends with a number", what, item);
			} else if (*p == '/') {
				b = hi;   /* "a/n": from a on */
			}
		}
		if (*p == '/') {
			p++;
			if ((step = number(&p)) <= 0)
				return error_set(err, errlen, -EINVAL, "%s: '%s': a repetition is a number from 1", what, item);
		}
		if (*p)
			return error_set(err, errlen, -EINVAL, "%s: '%s' is not a value, a range or a repetition", what, item);
		if (a < lo || b > hi || a > b)
			return error_set(err, errlen, -EINVAL, "%s: '%s' is outside %ld..%ld", what, item, lo, hi);
		for (long v = a; v <= b; v += step)
			set_bit(w, (unsigned)(v - lo));
	}
	memcpy(buf, text, len);   /* strtok_r cut it */
	if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,"))
		return error_set(err, errlen, -EINVAL, "%s: an empty item in a list", what);
	return 0;
}

static int day_index(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		for (int k = 0; k < 2; k++)
			if (strlen(day_names[i][k]) == n && !strncasecmp(s, day_names[i][k], n))
				return i;
	return -1;
}

/* "Mon,Wed..Fri": into c->wday. Ranges run Monday to Sunday, as systemd's do. */
static int weekdays(const char *text, struct calendar *c, char *err, size_t errlen)
{
	c->wday = 0;
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, ",.");
		int a = day_index(p, n), b = a;
		if (a < 0)
			return error_set(err, errlen, -EINVAL, "weekday: '%.*s' is no day's name", (int)n, p);
		p += n;
		if (!strncmp(p, "..", 2)) {
			p += 2;
			n = strcspn(p, ",.");
			if ((b = day_index(p, n)) < 0)
				return error_set(err, errlen, -EINVAL, "weekday: '%.*s' is no day's name", (int)n, p);
			p += n;
		}
		int ma = (a + 6) % 7, mb = (b + 6) % 7;   /* Monday 0 .. Sunday 6 */
		if (ma > mb)
			return error_set(err, errlen, -EINVAL, "weekday: a range runs from Monday to Sunday");
		for (int d = ma; d <= mb; d++)
			c->wday |= (uint8_t)(1u << ((d + 1) % 7));
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return error_set(err, errlen, -EINVAL, "weekday: expected ',' or '..' after a day");
	}
	return 0;
}

/* The date "Y-M-D" or "M-D". */
static int date(const char *text, struct calendar *c, char *err, size_t errlen)
{
	const char *d1 = strchr(text, '-'), *d2 = d1 ? strchr(d1 + 1, '-') : NULL;
	uint64_t w[4] = { 0 };
	int e;
	if (!d1 || (d2 && strchr(d2 + 1, '-')))
		return error_set(err, errlen, -EINVAL, "date: expected YYYY-MM-DD or MM-DD");
	const char *month = text;   /* "MM-DD" */
	if (d2) {
		if ((e = field(text, (size_t)(d1 - text), CAL_YEAR_MIN, CAL_YEAR_MAX, "year", c->year, err, errlen)) < 0)
			return e;
		month = d1 + 1;
	} else {
		d2 = d1;
	}
	if ((e = field(month, (size_t)(d2 - month), 1, 12, "month", w, err, errlen)) < 0)
		return e;
	c->mon = (uint16_t)(w[0] << 1);
	memset(w, 0, sizeof(w));
	if ((e = field(d2 + 1, strlen(d2 + 1), 1, 31, "day", w, err, errlen)) < 0)
		return e;
	c->mday = (uint32_t)(w[0] << 1);
	return 0;
}

/* The time "H:M" or "H:M:S". */
static int clock_time(const char *text, struct calendar *c, char *err, size_t errlen)
{
	const char *c1 = strchr(text, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	uint64_t w[4] = { 0 };
	int e;
	if (!c1 || (c2 && strchr(c2 + 1, ':')))
		return error_set(err, errlen, -EINVAL, "time: expected HH:MM or HH:MM:SS");
	if ((e = field(text, (size_t)(c1 - text), 0, 23, "hour", w, err, errlen)) < 0)
		return e;
	c->hour = (uint32_t)w[0];
	w[0] = 0;
	size_t mlen = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	if ((e = field(c1 + 1, mlen, 0, 59, "minute", &c->min, err, errlen)) < 0)
		return e;
	c->sec = 0;
	if (c2)
		return field(c2 + 1, strlen(c2 + 1), 0, 59, "second", &c->sec, err, errlen);
	c->sec = 1;   /* :00 */
	return 0;
}

static const struct { const char *name, *expr; } shorthands[] = {
	{ "minutely", "*-*-* *:*:00" }, { "hourly", "*-*-* *:00:00" }, { "daily", "*-*-* 00:00:00" },
	{ "weekly", "Mon *-*-* 00:00:00" }, { "monthly", "*-*-01 00:00:00" }, { "yearly", "*-01-01 00:00:00" },
	{ "annually", "*-01-01 00:00:00" },
};

int calendar_parse(const char *text, struct calendar *c, char *err, size_t errlen)
{
	char buf[CAL_TEXT_MAX + 1];
	size_t n = strlen(text);
	if (n == 0 || n > CAL_TEXT_MAX)
		return error_set(err, errlen, -EINVAL, "a calendar expression is 1 to %d characters", CAL_TEXT_MAX);
	memcpy(buf, text, n + 1);
	*c = (struct calendar){ 0 };
	if (n > 4 && !strcmp(buf + n - 4, " UTC")) {
		c->utc = true;
		buf[n -= 4] = '\0';
	}
	for (size_t i = 0; i < sizeof(shorthands) / sizeof(shorthands[0]); i++)
		if (!strcmp(buf, shorthands[i].name))
			snprintf(buf, sizeof(buf), "%s", shorthands[i].expr);
	char *tok[4];
	size_t nt = 0;
	for (char *save = NULL, *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
		if (nt == 3)
			return error_set(err, errlen, -EINVAL, "'%s': at most a weekday, a date and a time", text);
		tok[nt++] = t;
	}
	if (nt == 0)
		return error_set(err, errlen, -EINVAL, "'%s': empty", text);
	size_t i = 0;
	int e = 0;
	c->wday = 0x7f;
	if (isalpha((unsigned char)tok[0][0]) && (e = weekdays(tok[i++], c, err, errlen)) < 0)
		return e;
	bool have_date = false, have_time = false;
	for (; i < nt; i++) {
		if (strchr(tok[i], ':') && !have_time) {
			e = clock_time(tok[i], c, err, errlen);
			have_time = true;
		} else if (strchr(tok[i], '-') && !have_date && !have_time) {
			e = date(tok[i], c, err, errlen);
			have_date = true;
		} else {
			e = error_set(err, errlen, -EINVAL, "'%s': expected a date (Y-M-D) before a time (H:M[:S])", tok[i]);
		}
		if (e < 0)
			return e;
	}
	if (!have_date) {
		for (unsigned y = 0; y <= CAL_YEAR_MAX - CAL_YEAR_MIN; y++)
			set_bit(c->year, y);
		c->mon = 0x1ffe;
		c->mday = 0xfffffffe;
	} else if (!(c->year[0] | c->year[1] | c->year[2] | c->year[3])) {
		for (unsigned y = 0; y <= CAL_YEAR_MAX - CAL_YEAR_MIN; y++)   /* "MM-DD": every year */
			set_bit(c->year, y);
	}
	if (!have_time) {
		c->hour = 1;
		c->min = 1;
		c->sec = 1;
	}
	return 0;
}

/* ---- the next time ---- */

struct fields { int y, mon, d, h, mi, s; };   /* mon 1..12, d 1..31 */

static int days_in(int y, int mon)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return mon == 2 && leap ? 29 : days[mon - 1];
}

/* 0 Sunday .. 6 Saturday (Sakamoto's method). */
static int weekday(int y, int mon, int d)
{
	static const int t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };
	if (mon < 3)
		y--;
	return (y + y / 4 - y / 100 + y / 400 + t[mon - 1] + d) % 7;
}

/* Step field k (0 year .. 5 second) by one and zero the ones below it, carrying upwards. */
static void bump(struct fields *f, int k)
{
	int *v[6] = { &f->y, &f->mon, &f->d, &f->h, &f->mi, &f->s };
	static const int first[6] = { 0, 1, 1, 0, 0, 0 };
	for (int i = k + 1; i < 6; i++)
		*v[i] = first[i];
	(*v[k])++;
	if (f->s > 59)
		f->s = 0, f->mi++;
	if (f->mi > 59)
		f->mi = 0, f->h++;
	if (f->h > 23)
		f->h = 0, f->d++;
	if (f->mon > 12)   /* the month stepped: its days are the next year's January's */
		f->mon = 1, f->y++;
	if (f->d > days_in(f->y, f->mon))
		f->d = 1, f->mon++;
	if (f->mon > 12)
		f->mon = 1, f->y++;
}

/* The smallest v in [from, to] whose bit is set in mask (bit v), or -1. */
static int next_in(uint64_t mask, int from, int to)
{
	for (int v = from; v <= to; v++)
		if (mask >> v & 1)
			return v;
	return -1;
}

/* The instant of the fields, or -1 when the local time does not exist; the first of two. */
static time_t instant(const struct calendar *c, const struct fields *f)
{
	struct tm tm = { .tm_year = f->y - 1900, .tm_mon = f->mon - 1, .tm_mday = f->d, .tm_hour = f->h,
			 .tm_min = f->mi, .tm_sec = f->s };
	if (c->utc)
		return timegm(&tm);
	time_t best = -1;
	for (int dst = 0; dst <= 1; dst++) {
		struct tm t = tm, back;
		t.tm_isdst = dst;
		time_t r = mktime(&t);
		if (r == -1 || !localtime_r(&r, &back))
			continue;
		if (back.tm_year == tm.tm_year && back.tm_mon == tm.tm_mon && back.tm_mday == tm.tm_mday &&
		    back.tm_hour == tm.tm_hour && back.tm_min == tm.tm_min && back.tm_sec == tm.tm_sec &&
		    (best == -1 || r < best))
			best = r;
	}
	return best;
}

int calendar_next_after(const struct calendar *c, time_t t, time_t *next)
{
	struct tm tm;
	time_t from = t + 1;
	if (!(c->utc ? gmtime_r(&from, &tm) : localtime_r(&from, &tm)))
		return -ENOENT;
	struct fields f = { tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec };
	if (f.y < CAL_YEAR_MIN)
		f = (struct fields){ CAL_YEAR_MIN, 1, 1, 0, 0, 0 };
	/* Each round moves f forward by at least a second to the next candidate; a year without
	 * one costs about 13 rounds, so this bounds even an expression that never matches. */
	for (unsigned round = 0; round < 1000000; round++) {
		if (f.y > CAL_YEAR_MAX)
			return -ENOENT;
		if (!has_bit(c->year, (unsigned)(f.y - CAL_YEAR_MIN))) {
			bump(&f, 0);
			continue;
		}
		int v = next_in(c->mon, f.mon, 12);
		if (v < 0) {
			bump(&f, 0);
			continue;
		}
		if (v != f.mon)
			f = (struct fields){ f.y, v, 1, 0, 0, 0 };
		int dim = days_in(f.y, f.mon), d = f.d;
		while (d <= dim && !((c->mday >> d & 1) && (c->wday >> weekday(f.y, f.mon, d) & 1)))
			d++;
		if (d > dim) {
			bump(&f, 1);
			continue;
		}
		if (d != f.d)
			f = (struct fields){ f.y, f.mon, d, 0, 0, 0 };
		if ((v = next_in(c->hour, f.h, 23)) < 0) {
			bump(&f, 2);
			continue;
		}
		if (v != f.h)
			f.h = v, f.mi = 0, f.s = 0;
		if ((v = next_in(c->min, f.mi, 59)) < 0) {
			bump(&f, 3);
			continue;
		}
		if (v != f.mi)
			f.mi = v, f.s = 0;
		if ((v = next_in(c->sec, f.s, 59)) < 0) {
			bump(&f, 4);
			continue;
		}
		f.s = v;
		time_t r = instant(c, &f);
		if (r != -1 && r > t) {
			*next = r;
			return 0;
		}
		bump(&f, 5);   /* skipped by the clock change, or its second instance: not this one */
	}
	return -ENOENT;
}
