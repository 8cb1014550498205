/* The HTTP/1.x that guests speak to MMDS: finding and parsing one request in a TCP byte
 * stream, and writing responses in Firecracker's layout (status line without a reason phrase,
 * Server and Connection headers, Content-Type and Content-Length, the body).
 *
 * Only what MMDS serves is understood: GET/PUT (PATCH is recognised to be refused), an
 * origin-form or absolute-form URI, HTTP/1.0 and 1.1, and the headers MMDS acts on. A request
 * ends at its first empty line; one with a body (Content-Length > 0, Transfer-Encoding) is
 * refused as Firecracker refuses it ("Invalid request.").
 */
#ifndef PETREL_MMDS_HTTP_H
#define PETREL_MMDS_HTTP_H

#include "mmds/text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MMDS_HTTP_PATH_MAX 2048
#define MMDS_HTTP_VALUE_MAX 128    /* token and ttl header values kept (longer: invalid) */

enum mmds_http_method { MMDS_HTTP_GET, MMDS_HTTP_PUT, MMDS_HTTP_PATCH };

struct mmds_http_req {
	enum mmds_http_method method;
	bool http10;                    /* HTTP/1.0 (the response says so too) */
	char path[MMDS_HTTP_PATH_MAX];  /* absolute path, "//" runs collapsed; "" for "http://host" */
	bool accept_json;               /* Accept: application/json */
	bool close;                     /* Connection: close */
	bool has_token, has_ttl, forwarded_for;
	char token[MMDS_HTTP_VALUE_MAX + 1];
	size_t token_len;               /* > MMDS_HTTP_VALUE_MAX: too long to be valid */
	char ttl_header[48];            /* the name as sent, for the reply */
	char ttl[MMDS_HTTP_VALUE_MAX + 1];
};

/* A parse failure: status and body Firecracker answers with (the connection goes on). */
struct mmds_http_error {
	unsigned status;
	const char *msg;
	bool http10;
};

/* Look for a complete request at the start of buf. Returns 0 when none is complete yet;
 * otherwise the number of bytes it takes, with *req filled (err->status 0) or err set. */
size_t mmds_http_parse(const char *buf, size_t len, struct mmds_http_req *req,
		       struct mmds_http_error *err);

/* Append a whole response. content_type NULL: text/plain. allow: an Allow header value or
 * NULL; extra_name/extra_value: one more header or NULL. */
void mmds_http_response(struct mmds_buf *out, bool http10, unsigned status, const char *content_type,
			const char *allow, const char *extra_name, const char *extra_value,
			const char *body, size_t body_len);

#endif
