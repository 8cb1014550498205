/* See http.h. */
#include "mmds/http.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The end of the request head: just after the first "\n\n" or "\n\r\n" (0: not there yet). */
static size_t head_end(const char *b, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (b[i] != '\n')
			continue;
		if (b[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && b[i + 1] == '\r' && b[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static size_t fail(struct mmds_http_error *err, size_t used, unsigned status, const char *msg)
{
	err->status = status;
	err->msg = msg;
	return used;
}

/* One line of [p, end): its length without "\r\n" or "\n"; *next after it. */
static size_t line_len(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	if (!nl) {
		*next = end;
		return (size_t)(end - p);
	}
	*next = nl + 1;
	size_t n = (size_t)(nl - p);
	if (n && p[n - 1] == '\r')
		n--;
	return n;
}

static bool name_is(const char *name, size_t n, const char *want)
{
	return strlen(want) == n && strncasecmp(name, want, n) == 0;
}

static void keep_value(char *dst, size_t cap, size_t *out_len, const char *v, size_t n)
{
	if (out_len)
		*out_len = n;
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* The request line: METHOD SP URI SP HTTP/1.x */
static bool parse_request_line(const char *p, size_t n, struct mmds_http_req *req,
			       struct mmds_http_error *err)
{
	const char *sp1 = memchr(p, ' ', n);
	if (!sp1)
		return fail(err, 1, 400, "Invalid request."), false;
	size_t mlen = (size_t)(sp1 - p);
	const char *uri = sp1 + 1;
	const char *sp2 = memchr(uri, ' ', n - mlen - 1);
	if (!sp2)
		return fail(err, 1, 400, "Invalid request."), false;
	size_t ulen = (size_t)(sp2 - uri);
	const char *ver = sp2 + 1;
	size_t vlen = n - (size_t)(ver - p);

	if (vlen == 8 && !memcmp(ver, "HTTP/1.1", 8))
		req->http10 = false;
	else if (vlen == 8 && !memcmp(ver, "HTTP/1.0", 8))
		req->http10 = true;
	else
		return fail(err, 1, 501, "Unsupported HTTP version."), false;
	err->http10 = req->http10;

	if (mlen == 3 && !memcmp(p, "GET", 3))
		req->method = MMDS_HTTP_GET;
	else if (mlen == 3 && !memcmp(p, "PUT", 3))
		req->method = MMDS_HTTP_PUT;
	else if (mlen == 5 && !memcmp(p, "PATCH", 5))
		req->method = MMDS_HTTP_PATCH;
	else
		return fail(err, 1, 501, "Unsupported HTTP method."), false;

	/* absolute-form: drop "http://host" */
	if (ulen >= 7 && !strncasecmp(uri, "http://", 7)) {
		const char *slash = memchr(uri + 7, '/', ulen - 7);
		size_t skip = slash ? (size_t)(slash - uri) : ulen;
		uri += skip;
		ulen -= skip;
	} else if (!ulen || uri[0] != '/') {
		return fail(err, 1, 400, "Invalid URI."), false;
	}
	if (ulen >= MMDS_HTTP_PATH_MAX)
		return fail(err, 1, 400, "Invalid URI."), false;
	size_t o = 0;
	for (size_t i = 0; i < ulen; i++) {
		unsigned char c = (unsigned char)uri[i];
		if (c <= 0x20 || c >= 0x7f)
			return fail(err, 1, 400, "Invalid URI."), false;
		if (c == '/' && o && req->path[o - 1] == '/')
			continue;   /* Firecracker collapses "//" into "/" */
		req->path[o++] = (char)c;
	}
	req->path[o] = '\0';
	return true;
}

static bool parse_header(const char *p, size_t n, struct mmds_http_req *req, struct mmds_http_error *err)
{
	const char *colon = memchr(p, ':', n);
	if (!colon || colon == p)
		return fail(err, 1, 400, "Invalid header."), false;
	size_t nlen = (size_t)(colon - p);
	const char *v = colon + 1;
	size_t vlen = n - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	for (size_t i = 0; i < nlen; i++)
		if (!isgraph((unsigned char)p[i]))
			return fail(err, 1, 400, "Invalid header."), false;

	if (name_is(p, nlen, "Accept")) {
		req->accept_json = false;
		for (size_t i = 0; i + 16 <= vlen; i++)
			if (!strncasecmp(v + i, "application/json", 16))
				req->accept_json = true;
	} else if (name_is(p, nlen, "Connection")) {
		req->close = vlen == 5 && !strncasecmp(v, "close", 5);
	} else if (name_is(p, nlen, "Content-Length")) {
		for (size_t i = 0; i < vlen; i++)
			if (v[i] != '0')
				return fail(err, 1, 400, "Invalid request."), false;
	} else if (name_is(p, nlen, "Transfer-Encoding")) {
		return fail(err, 1, 400, "Invalid request."), false;
	} else if (name_is(p, nlen, "X-metadata-token") || name_is(p, nlen, "X-aws-ec2-metadata-token")) {
		req->has_token = true;
		keep_value(req->token, sizeof(req->token), &req->token_len, v, vlen);
	} else if (name_is(p, nlen, "X-metadata-token-ttl-seconds") ||
		   name_is(p, nlen, "X-aws-ec2-metadata-token-ttl-seconds")) {
		req->has_ttl = true;
		keep_value(req->ttl_header, sizeof(req->ttl_header), NULL, p, nlen);
		keep_value(req->ttl, sizeof(req->ttl), NULL, v, vlen);
	} else if (name_is(p, nlen, "X-Forwarded-For")) {
		req->forwarded_for = true;
	}
	return true;
}

size_t mmds_http_parse(const char *buf, size_t len, struct mmds_http_req *req,
		       struct mmds_http_error *err)
{
	memset(err, 0, sizeof(*err));
	size_t end = head_end(buf, len);
	if (!end)
		return 0;
	memset(req, 0, sizeof(*req));
	const char *p = buf, *stop = buf + end, *next;
	/* Blank lines before the request line are tolerated (RFC 9112 2.2). */
	size_t n;
	while ((n = line_len(p, stop, &next)) == 0 && next < stop)
		p = next;
	if (!n)
		return fail(err, end, 400, "Invalid request.");
	if (!parse_request_line(p, n, req, err))
		return end;
	for (p = next; p < stop; p = next) {
		n = line_len(p, stop, &next);
		if (!n)
			break;
		if (!parse_header(p, n, req, err))
			return end;
	}
	return end;
}

static const char *reason(unsigned status)
{
	(void)status;
	return "";   /* Firecracker's micro_http writes none */
}

void mmds_http_response(struct mmds_buf *out, bool http10, unsigned status, const char *content_type,
			const char *allow, const char *extra_name, const char *extra_value,
			const char *body, size_t body_len)
{
	mmds_buf_printf(out, "HTTP/1.%c %u %s\r\nServer: petrel\r\nConnection: keep-alive\r\n",
			http10 ? '0' : '1', status, reason(status));
	if (allow)
		mmds_buf_printf(out, "Allow: %s\r\n", allow);
	mmds_buf_printf(out, "Content-Type: %s\r\nContent-Length: %zu\r\n",
			content_type ? content_type : "text/plain", body_len);
	if (extra_name && extra_value)
		mmds_buf_printf(out, "%s: %s\r\n", extra_name, extra_value);
	mmds_buf_add(out, "\r\n", 2);
	mmds_buf_add(out, body, body_len);
}
