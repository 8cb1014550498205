/* One line on stderr for each failure: which step, then the errno in words and in digits; and
 * on a slow host, a line for each step done (jail_progress). */
#include "jail/jail.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Prints "petrel-jailer: <what>: <strerror(err)> (errno <err>)" and returns -err.
 * err may be given negative or positive. */
int jail_err(int err, const char *fmt, ...)
{
	char what[1024];
	va_list ap;
	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fprintf(stderr, "petrel-jailer: %s: %s (errno %d)\n", what, strerror(err), err);
	return -err;
}

/* Once the jailer has taken slow_ms (PETREL_JAILER_SLOW_MS, default JAIL_SLOW_MS), a line per
 * step it has done: petrel's caller may give up on a start that is slow (petreld waits 30 s
 * for the worker's API) and kill the jailer, its child with it, with nothing said; the last
 * such line in the worker's log then tells how far the jail got and how long it took. */
void jail_progress(const struct jail *j, const char *step)
{
	uint64_t ms = (jail_clock_us(CLOCK_MONOTONIC) - j->start_us) / 1000;
	if (ms >= j->slow_ms)
		fprintf(stderr, "petrel-jailer: %s, %llu ms after the jailer's start (a slow host: petrel "
			"does not run yet)\n", step, (unsigned long long)ms);
}
