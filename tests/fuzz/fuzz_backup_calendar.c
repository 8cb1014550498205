/* libFuzzer target: calendar expressions of backup jobs (calendar_parse, calendar_next_after:
 * src/manager/backup_calendar.c), untrusted text from a job's definition. The input is an
 * expression, or (after a NUL) an expression and 8 bytes of a start time. An expression is
 * accepted or refused with -EINVAL and a message; the next time of an accepted one is after the
 * start and its fields (in UTC or Berlin's local time, which has summer time) are allowed ones. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "manager/backup_calendar.h"
#include "util/log.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_OFF);
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	return 0;
}

static bool allowed(const struct calendar *c, time_t t)
{
	struct tm tm;
	if (!(c->utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)))
		return false;
	unsigned y = (unsigned)(tm.tm_year + 1900 - CAL_YEAR_MIN);
	return (c->sec >> tm.tm_sec & 1) && (c->min >> tm.tm_min & 1) && (c->hour >> tm.tm_hour & 1) &&
	       (c->mday >> tm.tm_mday & 1) && (c->mon >> (tm.tm_mon + 1) & 1) && (c->wday >> tm.tm_wday & 1) &&
	       y <= CAL_YEAR_MAX - CAL_YEAR_MIN && (c->year[y / 64] >> (y % 64) & 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);   /* the input and a NUL: reads past it are caught */
	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	size_t n = strlen(text);
	int64_t start = 1798761600;   /* 2027-01-01 */
	if (n + 1 + sizeof(start) <= size)
		memcpy(&start, data + n + 1, sizeof(start));
	start = start % ((int64_t)(CAL_YEAR_MAX - CAL_YEAR_MIN + 5) * 366 * 86400);
	if (start < 0)
		start = -start;
	char err[256] = "";
	struct calendar c;
	int r = calendar_parse(text, &c, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(r == 0 || err[0] != 0);
	time_t t = (time_t)start;
	for (int i = 0; r == 0 && i < 4; i++) {
		time_t next;
		int e = calendar_next_after(&c, t, &next);
		FUZZ_CHECK(e == 0 || e == -ENOENT);
		if (e < 0)
			break;
		FUZZ_CHECK(next > t && allowed(&c, next));
		t = next;
	}
	free(text);
	return 0;
}
