/* The MMDS tests (test_mmds_*.c): JSON in from test text, compact JSON out as MMDS writes it,
 * and the body of an HTTP response. */
#ifndef PETREL_TESTS_UNIT_MMDS_TEXT_H
#define PETREL_TESTS_UNIT_MMDS_TEXT_H

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "mmds/text.h"

static inline json_t *J(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, JSON_DECODE_ANY, &e);
	if (!v)
		fprintf(stdout, "  bad test JSON: %s\n", e.text);
	return v;
}

static inline char *dump(const json_t *v)
{
	struct mmds_buf b = { 0 };
	mmds_json_write(&b, v);
	return b.data;   /* caller frees */
}

static inline const char *body_of(const char *resp)
{
	const char *p = resp ? strstr(resp, "\r\n\r\n") : NULL;
	return p ? p + 4 : "";
}

#endif
