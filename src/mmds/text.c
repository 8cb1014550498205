/* See text.h. */
#include "mmds/text.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mmds_buf_free(struct mmds_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void mmds_buf_reset(struct mmds_buf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data)
		b->data[0] = '\0';
}

void mmds_buf_add(struct mmds_buf *b, const void *p, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *d = realloc(b->data, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void mmds_buf_str(struct mmds_buf *b, const char *s)
{
	mmds_buf_add(b, s, strlen(s));
}

void mmds_buf_printf(struct mmds_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	mmds_buf_add(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* serde_json's string escapes: the two mandatory ones, the short forms of \b \f \n \r \t and
 * \u00XX for the other control characters. */
static void write_string(struct mmds_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	mmds_buf_add(b, "\"", 1);
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *esc = NULL;
		char u[7];
		if (c == '"')
			esc = "\\\"";
		else if (c == '\\')
			esc = "\\\\";
		else if (c == '\b')
			esc = "\\b";
		else if (c == '\f')
			esc = "\\f";
		else if (c == '\n')
			esc = "\\n";
		else if (c == '\r')
			esc = "\\r";
		else if (c == '\t')
			esc = "\\t";
		else if (c < 0x20) {
			memcpy(u, "\\u00", 4);
			u[4] = hex[c >> 4];
			u[5] = hex[c & 15];
			u[6] = '\0';
			esc = u;
		}
		if (!esc)
			continue;
		mmds_buf_add(b, s + run, i - run);
		mmds_buf_str(b, esc);
		run = i + 1;
	}
	mmds_buf_add(b, s + run, n - run);
	mmds_buf_add(b, "\"", 1);
}

/* The shortest %.*g that reads back to d, with ".0" when it would look like an integer. */
static void write_real(struct mmds_buf *b, double d)
{
	char tmp[40];
	if (!isfinite(d)) {
		mmds_buf_str(b, "null");
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	if (!strpbrk(tmp, ".eEn"))
		strcat(tmp, ".0");
	mmds_buf_str(b, tmp);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **mmds_sorted_keys(const json_t *obj, size_t *n)
{
	*n = json_object_size(obj);
	if (!*n)
		return NULL;
	const char **keys = malloc(*n * sizeof(*keys));
	if (!keys)
		return NULL;
	size_t k = 0;
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)obj, key, val)
		keys[k++] = key;
	qsort(keys, k, sizeof(*keys), cmp_keys);
	return keys;
}

static void write_value(struct mmds_buf *b, const json_t *v, unsigned depth)
{
	if (b->oom)
		return;
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		size_t k;
		const char **keys = mmds_sorted_keys(v, &k);
		if (!keys && k) {
			b->oom = true;
			return;
		}
		mmds_buf_add(b, "{", 1);
		for (size_t i = 0; i < k; i++) {
			if (i)
				mmds_buf_add(b, ",", 1);
			write_string(b, keys[i], strlen(keys[i]));
			mmds_buf_add(b, ":", 1);
			write_value(b, json_object_get(v, keys[i]), depth + 1);
		}
		mmds_buf_add(b, "}", 1);
		free(keys);
		break;
	}
	case JSON_ARRAY:
		mmds_buf_add(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i)
				mmds_buf_add(b, ",", 1);
			write_value(b, json_array_get(v, i), depth + 1);
		}
		mmds_buf_add(b, "]", 1);
		break;
	case JSON_STRING:
		write_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		mmds_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		write_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		mmds_buf_str(b, "true");
		break;
	case JSON_FALSE:
		mmds_buf_str(b, "false");
		break;
	default:
		mmds_buf_str(b, "null");
		break;
	}
}

void mmds_json_write(struct mmds_buf *b, const json_t *v)
{
	write_value(b, v, 0);
}

size_t mmds_json_size(const json_t *v)
{
	struct mmds_buf b = { 0 };
	mmds_json_write(&b, v);
	size_t n = b.oom ? SIZE_MAX : b.len;
	mmds_buf_free(&b);
	return n;
}
