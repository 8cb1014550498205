/* The clock of backup schedules and retention (test_clock.c): the real one, or with petreld's
 * --test-clock FILE the time that file holds, so tests step through a week of schedules or a
 * year of backups in seconds (docs/backups.md#the-test-clock). */
#ifndef PETREL_MANAGER_TEST_CLOCK_H
#define PETREL_MANAGER_TEST_CLOCK_H

#include <time.h>

struct manager;

/* Now, in seconds since the epoch: time(NULL), or the test clock's file's number (the last
 * good one while the file is being rewritten or holds no number). */
time_t mgr_clock_now(struct manager *m);

#endif
