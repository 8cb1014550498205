/* Reading one API request: http-parser's callbacks keep the request line, the headers and the
 * body on the connection, with petrel's own checks on what a client sends (the size of the head
 * and of the body, one way of framing the body, HTTP/1.x only, 100 Continue); the connection
 * (conn.c) runs them and answers. Untrusted network input: fuzzed by tests/fuzz/fuzz_http.c. */
#include "http/server_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

enum { H_OTHER, H_CONTENT_LENGTH, H_TRANSFER_ENCODING, H_EXPECT };

static struct http_conn *conn_of(http_parser *p)
{
	return p->data;
}

/* Refuse the request from inside a parser callback: the callback then returns -1, the parser
 * stops with an error and the connection answers this and closes. */
static int refuse(struct http_conn *c, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct http_conn *c, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->fault, sizeof(c->fault), fmt, ap);
	va_end(ap);
	c->fault_status = status;
	return -1;
}

static int count_head(struct http_conn *c, size_t n)
{
	c->head_len += n;
	if (c->head_len > HTTP_HEAD_MAX)
		return refuse(c, 431, "request line and headers larger than %d bytes", HTTP_HEAD_MAX);
	return 0;
}

/* Append n bytes to a buffer growing by doubling (a chunked body may come a byte at a time). */
static int append(char **buf, size_t *len, size_t *cap, const char *at, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t cap2 = *cap ? *cap : 256;
		while (cap2 < *len + n + 1)
			cap2 *= 2;
		char *b = realloc(*buf, cap2);
		if (!b)
			return -1;
		*buf = b;
		*cap = cap2;
	}
	memcpy(*buf + *len, at, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	c->in_request = true;
	c->head_len = c->url_len = c->body_len = 0;
	c->field_len = c->value_len = c->cl_first_len = 0;
	c->in_value = c->cl_differ = c->expect_continue = false;
	c->head_only = c->http10 = false;
	c->n_content_length = c->n_transfer_encoding = 0;
	c->header = H_OTHER;
	c->hdrs_len = 0;
	c->hdr_in_value = false;
	return 0;
}

/* Every header is kept as "name\0value\0" for http_request_header(): the value's NUL ends a
 * pair when the next name begins, or the head ends. */
static int keep_header(struct http_conn *c, bool value, const char *at, size_t n)
{
	static const char nul = '\0';
	if (value != c->hdr_in_value && append(&c->hdrs, &c->hdrs_len, &c->hdrs_cap, &nul, 1) < 0)
		return refuse(c, 500, "out of memory");
	c->hdr_in_value = value;
	return append(&c->hdrs, &c->hdrs_len, &c->hdrs_cap, at, n) < 0 ? refuse(c, 500, "out of memory") : 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (count_head(c, n) < 0)
		return -1;
	return append(&c->url, &c->url_len, &c->url_cap, at, n) < 0 ? refuse(c, 500, "out of memory") : 0;
}

/* The value of a tracked header is complete. */
static void header_done(struct http_conn *c)
{
	if (c->header == H_CONTENT_LENGTH) {
		if (c->n_content_length == 1) {
			memcpy(c->cl_first, c->value, c->value_len);
			c->cl_first_len = c->value_len;
		} else if (c->value_len != c->cl_first_len || memcmp(c->value, c->cl_first, c->value_len)) {
			c->cl_differ = true;
		}
	} else if (c->header == H_EXPECT) {
		c->expect_continue = c->value_len == 12 && !strncasecmp(c->value, "100-continue", 12);
	}
	c->in_value = false;
	c->field_len = 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (count_head(c, n) < 0)
		return -1;
	if (c->in_value)
		header_done(c);
	/* http-parser takes "Content-Length : 5" as Content-Length; a name must have no
	 * whitespace before its colon (RFC 9112 5.1), and one that did would go unchecked here */
	if (memchr(at, ' ', n) || memchr(at, '\t', n))
		return refuse(c, 400, "whitespace in a header name");
	if (keep_header(c, false, at, n) < 0)
		return -1;
	size_t room = sizeof(c->field) - c->field_len;
	memcpy(c->field + c->field_len, at, n < room ? n : room);
	c->field_len += n < room ? n : room;
	return 0;
}

static bool field_is(const struct http_conn *c, const char *name)
{
	size_t len = strlen(name);
	return c->field_len == len && !strncasecmp(c->field, name, len);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	if (count_head(c, n) < 0)
		return -1;
	if (!c->in_value) {
		c->in_value = true;
		c->value_len = 0;
		c->header = field_is(c, "Content-Length")      ? H_CONTENT_LENGTH
			    : field_is(c, "Transfer-Encoding") ? H_TRANSFER_ENCODING
			    : field_is(c, "Expect")            ? H_EXPECT
							       : H_OTHER;
		c->n_content_length += c->header == H_CONTENT_LENGTH;
		c->n_transfer_encoding += c->header == H_TRANSFER_ENCODING;
	}
	size_t room = sizeof(c->value) - c->value_len;
	memcpy(c->value + c->value_len, at, n < room ? n : room);
	c->value_len += n < room ? n : room;
	return keep_header(c, true, at, n);
}

const char *http_request_bad_framing(const struct http_conn *c)
{
	if (c->cl_differ)
		return "conflicting Content-Length headers";
	if (c->n_content_length > 1)
		return "more than one Content-Length header";
	if (c->n_content_length && c->n_transfer_encoding)
		return "both Content-Length and Transfer-Encoding";
	return NULL;
}

static void send_continue(struct http_conn *c)
{
	static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	/* best effort: the output is empty here (answers go out before the next request is read) */
	if (send(c->fd, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("API: cannot send 100 Continue: %s", strerror(errno));
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	if (c->in_value)
		header_done(c);
	if (c->hdr_in_value && keep_header(c, false, "", 0) < 0)
		return -1;
	if (p->http_major != 1)
		return refuse(c, 505, "HTTP/%u.%u is not supported", p->http_major, p->http_minor);
	c->head_only = p->method == HTTP_HEAD;
	c->http10 = p->http_minor == 0;
	const char *framing = http_request_bad_framing(c);
	if (framing)
		return refuse(c, 400, "%s", framing);
	size_t max = c->srv->max_payload;
	if (c->n_content_length && p->content_length > max)
		return refuse(c, 400, "request body of %llu bytes is larger than the limit of %zu bytes",
			      (unsigned long long)p->content_length, max);
	if (c->expect_continue && !c->http10 &&
	    (p->flags & F_CHUNKED || (c->n_content_length && p->content_length)))
		send_continue(c);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	/* Past the limit (a chunked body has no length up front): refused at once and the
	 * connection closed, as for a Content-Length over it. Reading the rest to drop it let one
	 * client stream without end (and keep its socket busy, safe from eviction). */
	if (c->body_len + n > c->srv->max_payload)
		return refuse(c, 400, "request body larger than the limit of %zu bytes", c->srv->max_payload);
	return append(&c->body, &c->body_len, &c->body_cap, at, n) < 0 ? refuse(c, 500, "out of memory") : 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	c->complete = true;
	c->in_request = false;
	c->srv->hp->pause(p, 1); /* the next request waits until this one is answered */
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

size_t http_request_execute(struct http_conn *c, const char *at, size_t n)
{
	return c->srv->hp->execute(&c->parser, &settings, at, n);
}

void http_request_unescape(char *s)
{
	char *r = s, *w = s;
	while (*r) {
		int hi = r[0] == '%' ? hex_digit(r[1]) : -1, lo = hi >= 0 ? hex_digit(r[2]) : -1;
		if (lo >= 0 && (hi | lo)) {
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

const char *http_request_header(void *opaque, const char *name)
{
	struct http_conn *c = opaque;
	for (size_t i = 0; i < c->hdrs_len;) {
		const char *n = c->hdrs + i;
		size_t nl = strnlen(n, c->hdrs_len - i);
		if (i + nl + 1 >= c->hdrs_len)
			break;
		const char *v = n + nl + 1;
		if (!strcasecmp(n, name))
			return v;
		i += nl + 1 + strnlen(v, c->hdrs_len - i - nl - 1) + 1;
	}
	return NULL;
}

const char *http_request_query(void *opaque)
{
	struct http_conn *c = opaque;
	return c->query ? c->query : "";
}
