/* Text that MMDS produces: a growable byte buffer, and JSON in the exact compact form
 * Firecracker's serde_json writes (keys sorted bytewise, no spaces, '/' and non-ASCII as they
 * are, the shortest decimal that reads back to the same double). Firecracker measures the data
 * store limit on that text and sends it to guests, so petrel writes it the same way.
 */
#ifndef PETREL_MMDS_TEXT_H
#define PETREL_MMDS_TEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct mmds_buf {
	char *data;     /* malloc'd, NUL-terminated when len > 0 */
	size_t len, cap;
	bool oom;       /* an append failed: the text is incomplete */
};

void mmds_buf_free(struct mmds_buf *b);
void mmds_buf_reset(struct mmds_buf *b);    /* empty, keeps the allocation */
void mmds_buf_add(struct mmds_buf *b, const void *p, size_t n);
void mmds_buf_str(struct mmds_buf *b, const char *s);
void mmds_buf_printf(struct mmds_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append v as compact JSON. */
void mmds_json_write(struct mmds_buf *b, const json_t *v);
/* An object's keys sorted bytewise (serde_json's order): a malloc'd array of *n borrowed
 * strings, NULL when empty (*n 0) or out of memory (*n > 0). */
const char **mmds_sorted_keys(const json_t *obj, size_t *n);
/* Its length in bytes (what the store limit counts); SIZE_MAX when out of memory. */
size_t mmds_json_size(const json_t *v);

#endif
