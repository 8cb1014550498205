/* The one way a function reports an error to its caller: it returns a negative errno and, when
 * the caller gave a buffer, says what failed and why in it (docs/development.md, "Errors and
 * messages"). The caller adds where (its own prefix) and decides whether to log. */
#ifndef PETREL_UTIL_ERROR_H
#define PETREL_UTIL_ERROR_H

#include <stdarg.h>
#include <stddef.h>

/* Format the message into err (when err && errlen) and return code (a negative errno). */
int error_set(char *err, size_t errlen, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int verror_set(char *err, size_t errlen, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));
/* "out of memory" into err, -ENOMEM. */
int error_oom(char *err, size_t errlen);

#endif
