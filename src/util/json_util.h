/* Shared pieces of petrel's strict JSON parsers (VM config, device objects, CPU templates,
 * API bodies): error messages that name the field, unknown-key checks, reading a JSON file. */
#ifndef PETREL_UTIL_JSON_UTIL_H
#define PETREL_UTIL_JSON_UTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every key of obj must be in allowed (NULL-terminated); otherwise -EINVAL with
 * "where.key: unknown field" ("key: unknown field" when where is empty). */
int json_check_keys(json_t *obj, const char *where, const char *const *allowed, char *err,
		    size_t errlen);
/* Read a JSON text file of at most max bytes into a NUL-terminated buffer (caller frees),
 * refusing NUL bytes inside; `what` names the file in messages ("config file"). */
int json_read_text_file(const char *path, size_t max, const char *what, char **buf, char *err,
			size_t errlen);
/* A boolean field: 1 if present, 0 if absent (null counts as absent, as in Firecracker's API),
 * -EINVAL with "where.key: ..." in err when required and missing or not a boolean. */
int json_get_bool(json_t *obj, const char *where, const char *key, bool required, bool *out,
		  char *err, size_t errlen);
/* An integer field in [min, max]: 1 if present, 0 if absent (null counts as absent, as in
 * Firecracker's API), -EINVAL with "where.key: ..." in err when required and missing, not an
 * integer or out of range. */
int json_get_uint(json_t *obj, const char *where, const char *key, bool required, uint64_t min,
		  uint64_t max, uint64_t *out, char *err, size_t errlen);
/* o's string field key, or "" when o is NULL, has no such field or it is no string (a status
 * or a meta.json read where absent and empty mean the same). */
static inline const char *json_str_or_empty(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

#endif
