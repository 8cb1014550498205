#include "util/json_util.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int json_check_keys(json_t *obj, const char *where, const char *const *allowed, char *err,
		    size_t errlen)
{
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok)
			return error_set(err, errlen, -EINVAL, "%s%s%s: unknown field", where ? where : "",
					 where && *where ? "." : "", key);
	}
	return 0;
}

int json_read_text_file(const char *path, size_t max, const char *what, char **buf, char *err,
			size_t errlen)
{
	size_t len = 0;
	int r = read_whole_file(path, max, buf, &len);
	if (r < 0) {
		if (r == -EFBIG)
			error_set(err, errlen, -EINVAL, "%s: %s is larger than %zu bytes", path, what, max);
		else if (r == -EINVAL)
			error_set(err, errlen, -EINVAL, "%s: not a regular file", path);
		else
			error_set(err, errlen, -EINVAL, "cannot read %s %s: %s", what, path, strerror(-r));
		return r;
	}
	if (strlen(*buf) != len) {
		free(*buf);
		*buf = NULL;
		return error_set(err, errlen, -EINVAL, "%s: file contains a NUL byte", path);
	}
	return 0;
}

int json_get_bool(json_t *obj, const char *where, const char *key, bool required, bool *out,
		  char *err, size_t errlen)
{
	const char *w = where && *where ? where : "", *dot = where && *where ? "." : "";
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			return error_set(err, errlen, -EINVAL, "%s%s%s: missing required field", w, dot, key);
		return 0;
	}
	if (!json_is_boolean(v))
		return error_set(err, errlen, -EINVAL, "%s%s%s: expected a boolean", w, dot, key);
	*out = json_is_true(v);
	return 1;
}

int json_get_uint(json_t *obj, const char *where, const char *key, bool required, uint64_t min,
		  uint64_t max, uint64_t *out, char *err, size_t errlen)
{
	const char *w = where && *where ? where : "", *dot = where && *where ? "." : "";
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v)) {
		if (required)
			return error_set(err, errlen, -EINVAL, "%s%s%s: missing required field", w, dot, key);
		return 0;
	}
	if (!json_is_integer(v))
		return error_set(err, errlen, -EINVAL, "%s%s%s: expected an integer", w, dot, key);
	json_int_t i = json_integer_value(v);
	if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
		return error_set(err, errlen, -EINVAL, "%s%s%s: must be between %llu and %llu (got %lld)", w,
				 dot, key, (unsigned long long)min, (unsigned long long)max, (long long)i);
	*out = (uint64_t)i;
	return 1;
}
