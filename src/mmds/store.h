/* The MMDS data store: one JSON document, replaced by PUT, merged into by PATCH (RFC 7396
 * JSON Merge Patch), read whole by the API and by path (an RFC 6901 JSON pointer) by guests.
 *
 * As in Firecracker the document is null until the first PUT (a PATCH before that is refused),
 * and every PUT or PATCH whose result would serialize to more than `limit` bytes is refused
 * and leaves the store as it was. Not thread-safe: struct mmds (mmds.h) locks around it.
 */
#ifndef PETREL_MMDS_STORE_H
#define PETREL_MMDS_STORE_H

#include "mmds/text.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Firecracker's default --mmds-size-limit (its default HTTP API payload limit): 51200 bytes
 * of compact JSON. */
#define MMDS_STORE_DEFAULT_LIMIT 51200

enum mmds_store_status {
	MMDS_STORE_OK = 0,
	MMDS_STORE_LIMIT,        /* "The MMDS patch request doesn't fit." */
	MMDS_STORE_NOT_INIT,     /* "The MMDS data store is not initialized." */
	MMDS_STORE_NOT_FOUND,    /* no value at that path */
	MMDS_STORE_UNSUPPORTED,  /* IMDS format asked for a value that is neither object nor string */
	MMDS_STORE_NOMEM,
};

struct mmds_store {
	json_t *data;            /* JSON null until the first PUT */
	bool initialized;
	size_t limit;
};

void mmds_store_init(struct mmds_store *s, size_t limit);
void mmds_store_free(struct mmds_store *s);
/* Replace the document with a copy of data. */
enum mmds_store_status mmds_store_put(struct mmds_store *s, const json_t *data);
/* Merge patch into the document. */
enum mmds_store_status mmds_store_patch(struct mmds_store *s, const json_t *patch);
/* A copy of the document for GET /mmds ({} while uninitialized); NULL when out of memory. */
json_t *mmds_store_get(const struct mmds_store *s);
/* The value at a guest's request path ("/a/b", "/a/b/": one trailing '/' ignored, "" or "/"
 * the root; "//" runs must already be collapsed) appended to out: as compact JSON when json,
 * else in IMDS form (an object's keys one a line, "/" after those holding objects; a string's
 * text; anything else MMDS_STORE_UNSUPPORTED). */
enum mmds_store_status mmds_store_lookup(const struct mmds_store *s, const char *path, bool json,
					 struct mmds_buf *out);
/* The message Firecracker gives for a status. */
const char *mmds_store_strerror(enum mmds_store_status st);

/* RFC 7396 on jansson values: *target is replaced or changed in place (it may be NULL or
 * any type); patch is only read. -1 when out of memory (then *target may be partly patched). */
int mmds_merge_patch(json_t **target, const json_t *patch);

#endif
