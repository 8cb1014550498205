/* One line on stderr for each failure: which step, then the errno in words and in digits. */
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
