/* Calendar expressions of backup jobs (backup_calendar.c, docs/backups.md#schedules): the
 * subset of systemd's OnCalendar syntax (systemd.time(7)) a schedule needs, and the next time
 * one names. Untrusted input (a job's definition): fuzzed by tests/fuzz/fuzz_backup_calendar.c. */
#ifndef PETREL_MANAGER_BACKUP_CALENDAR_H
#define PETREL_MANAGER_BACKUP_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define CAL_YEAR_MIN 1970
#define CAL_YEAR_MAX 2199
#define CAL_TEXT_MAX 256

/* The times an expression names, as sets of field values: bit v set when v is allowed. */
struct calendar {
	uint64_t sec, min;          /* 0..59 */
	uint32_t hour;              /* 0..23 */
	uint32_t mday;              /* 1..31 */
	uint16_t mon;               /* 1..12 */
	uint8_t wday;               /* 0..6, 0 Sunday (struct tm's) */
	uint64_t year[4];           /* year - CAL_YEAR_MIN */
	bool utc;                   /* " UTC" at the end; else the host's local time zone (TZ) */
};

/* Parse text: "minutely", "hourly", "daily", "weekly", "monthly", "yearly" (also "annually"),
 * or "[DOW[,DOW..]|DOW..DOW] [YYYY|*]-[MM|*]-[DD|*] [HH|*]:[MM|*][:SS]" (the date or the time may
 * be left out: every day, midnight) where every number may be a list "a,b", a range "a..b" and
 * a repetition "a/n" or "a..b/n" ("*" for all), and " UTC" at the end. 0, or -EINVAL and why. */
int calendar_parse(const char *text, struct calendar *c, char *err, size_t errlen);
/* The first time strictly after t the calendar names: 0 and *next, or -ENOENT when there is
 * none before CAL_YEAR_MAX ends. A local time that does not exist (the hour skipped when summer
 * time begins) is no occurrence; one that happens twice (when it ends) is one, the first. */
int calendar_next_after(const struct calendar *c, time_t t, time_t *next);

#endif
