/* Error messages for callers (error.h). */
#include "util/error.h"

#include <errno.h>
#include <stdio.h>

int verror_set(char *err, size_t errlen, int code, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	return code;
}

int error_set(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	verror_set(err, errlen, code, fmt, ap);
	va_end(ap);
	return code;
}

int error_oom(char *err, size_t errlen)
{
	return error_set(err, errlen, -ENOMEM, "out of memory");
}
