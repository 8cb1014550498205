/* One connection: its requests (read by request.c) handed to the server's handler, answered
 * in order (keep-alive, pipelining: the parser is paused after each request until its answer
 * is out). Every refusal is a JSON fault and, where the framing can no longer be trusted, the
 * end of the connection. See server_int.h. */
#include "http/server_int.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *reason(unsigned status)
{
	switch (status) {
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 429: return "Too Many Requests";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 201: return "Created";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 409: return "Conflict";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 507: return "Insufficient Storage";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

static bool flush(struct http_conn *c);
static void respond_stream(struct http_conn *c, struct api_response *r);

/* Queue an answer (taking its body) and start sending it. */
static void respond(struct http_conn *c, struct api_response *r)
{
	if (r->stream) {
		respond_stream(c, r);
		return;
	}
	size_t blen = r->body ? (r->body_len ? r->body_len : strlen(r->body)) : 0;
	bool close = c->close_after || !c->keep_alive;
	char length[48] = "", type[96] = "";
	if (r->status != 204 && r->status != 304) /* no content: no length (RFC 9110 8.6) */
		snprintf(length, sizeof(length), "Content-Length: %zu\r\n", blen);
	if (r->body)
		snprintf(type, sizeof(type), "Content-Type: %s\r\n", r->content_type ? r->content_type : "application/json");
	char *head = NULL;
	int hlen = asprintf(&head, "HTTP/1.1 %u %s\r\nServer: petrel API\r\n%s%s%s%s%s\r\n",
			    r->status, reason(r->status), type,
			    r->deprecated ? "Deprecation: true\r\n" : "", length, r->headers ? r->headers : "",
			    close       ? "Connection: close\r\n"
			    : c->http10 ? "Connection: keep-alive\r\n" /* else 1.0 means close */
					: "");
	if (c->head_only)
		blen = 0; /* its length is said, the body is not sent */
	c->out = hlen < 0 ? NULL : malloc((size_t)hlen + blen);
	if (!c->out) {
		if (hlen >= 0)
			free(head);
		api_response_free(r);
		c->dead = true;
		return;
	}
	memcpy(c->out, head, (size_t)hlen);
	free(head);
	if (blen)
		memcpy(c->out + hlen, r->body, blen);
	c->out_len = (size_t)hlen + blen;
	c->out_off = 0;
	c->close_after = close;
	api_response_free(r);
	flush(c); /* the rest, if any, when poll says it fits */
}

/* A long-lived answer: its head, then the descriptor goes to r->stream (response.h). */
static void respond_stream(struct http_conn *c, struct api_response *r)
{
	char head[1024];
	/* 101: a WebSocket's handshake, whose headers (Upgrade, Connection, ...) are r->headers */
	int hlen = snprintf(head, sizeof(head), "HTTP/1.1 %u %s\r\nServer: petrel API\r\n%s%s\r\n",
			    r->status, reason(r->status),
			    r->status == 101 ? "" : "Content-Type: application/json\r\nConnection: close\r\n",
			    r->headers ? r->headers : "");
	int fd = c->fd;
	c->dead = true;
	if (hlen >= (int)sizeof(head) || send(fd, head, (size_t)hlen, MSG_NOSIGNAL) != hlen) {
		r->stream(r->stream_opaque, -1); /* its owner lets go of stream_opaque */
		api_response_free(r);
		return; /* closed with the connection */
	}
	c->fd = -1;
	r->stream(r->stream_opaque, fd);
	api_response_free(r);
}

static void respond_fault(struct http_conn *c, unsigned status, const char *msg)
{
	struct api_response r = { 0 };
	api_response_fault(&r, status, "%s", msg);
	c->close_after = true;
	respond(c, &r);
}

static void request_done(void *opaque, struct api_response *resp)
{
	struct http_conn *c = opaque;
	struct api_server *s = c->srv;
	pthread_mutex_lock(&s->lock);
	c->result = *resp;
	c->next_done = s->done;
	s->done = c;
	pthread_mutex_unlock(&s->lock);
	uint64_t one = 1;
	if (write(s->wake, &one, sizeof(one)) < 0)
		log_error("API: cannot wake the server: %s", strerror(errno));
}

/* A whole request is in: hand it to the handler. */
static void handle(struct http_conn *c)
{
	c->keep_alive = c->srv->hp->should_keep_alive(&c->parser) && !c->parser.upgrade;
	char *path = c->url ? c->url : "";
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	c->query = q ? q + 1 : "";
	http_request_unescape(path);
	struct api_response r = { 0 };
	enum api_result res = c->srv->handle(c->srv->ctx, c->srv->hp->method_str(c->parser.method), path,
					 c->body, c->body_len, &r, request_done, c);
	if (res == API_DONE)
		respond(c, &r);
	else
		c->handling = true; /* request_done() hands the answer over */
}

/* Parse what has been read, as far as the next whole request. */
static void parse(struct http_conn *c)
{
	/* At most HTTP_REQUESTS_PER_ROUND at a time: the rest waits in c->in for the server's next
	 * round, so that a client pipelining thousands of requests does not keep the others
	 * waiting until its own are all answered. */
	unsigned budget = HTTP_REQUESTS_PER_ROUND;
	while (!c->dead && !c->handling && !c->out_len && c->in_off < c->in_len && budget) {
		size_t n = http_request_execute(c, c->in + c->in_off, c->in_len - c->in_off);
		c->in_off += n;
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
		if (e == HPE_PAUSED && c->complete) {
			budget--;
			handle(c);
			continue;
		}
		if (e == HPE_OK && !c->parser.upgrade)
			continue;
		if (c->fault_status) {
			respond_fault(c, c->fault_status, c->fault);
		} else if (e == HPE_UNEXPECTED_CONTENT_LENGTH) {
			/* The parser's own smuggling checks stop before our callbacks see the value:
			 * one beside Transfer-Encoding, or a second Content-Length, whose value starts
			 * where the parser stopped. Counted here, http_request_bad_framing() says which. */
			if (!c->n_transfer_encoding) {
				const char *v = c->in + c->in_off;
				const char *end = memchr(v, '\r', c->in_len - c->in_off);
				c->n_content_length++;
				c->cl_differ = end && ((size_t)(end - v) != c->cl_first_len ||
						       memcmp(v, c->cl_first, c->cl_first_len));
			}
			const char *why = http_request_bad_framing(c);
			respond_fault(c, 400, why ? why : c->srv->hp->errno_description(e));
		} else if (e == HPE_OK) {
			/* an Upgrade request without a complete message: nothing we speak */
			respond_fault(c, 400, "protocol upgrades are not supported");
		} else {
			char msg[128];
			snprintf(msg, sizeof(msg), "malformed request: %s", c->srv->hp->errno_description(e));
			respond_fault(c, 400, msg);
		}
		return;
	}
}

/* The answer is out: forget the request; the parser may go on with the next one. */
static void request_end(struct http_conn *c)
{
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	if (c->close_after) {
		/* Our side ends here (the client reads the end of file after the answer); what it
		 * still sends is dropped until it closes, for a while (HTTP_LINGER_MS), where there
		 * is room for that. */
		struct api_server *s = c->srv;
		if (s->nconns > HTTP_CONNS_SOFT || s->nlingering >= HTTP_LINGER_MAX ||
		    shutdown(c->fd, SHUT_WR) < 0) {
			c->dead = true;
			return;
		}
		s->nlingering++;
		c->lingering = true;
		c->linger_until = now_ns() + HTTP_LINGER_MS * 1000000ull;
		c->linger_left = HTTP_LINGER_BYTES;
		c->in_off = c->in_len = 0; /* requests pipelined behind it are not run */
		return;
	}
	c->complete = false;
	c->fault_status = 0;
	/* a next request that fails before on_message_begin must not inherit these */
	c->head_only = c->http10 = false;
	c->srv->hp->pause(&c->parser, 0);
}

/* Send what is queued. True once all of it is out (and the request ended). */
static bool flush(struct http_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (w <= 0) {
			c->dead = true; /* the client went away */
			return false;
		}
		c->out_off += (size_t)w;
	}
	request_end(c);
	return true;
}

void http_conn_answer(struct http_conn *c)
{
	c->handling = false;
	respond(c, &c->result);
	parse(c); /* requests pipelined behind it */
}

bool http_conn_ready(const struct http_conn *c)
{
	return !c->dead && !c->lingering && !c->handling && !c->out_len && c->in_off < c->in_len;
}

/* A lingering connection: drop what came in; closed at its end of file, an error, or once
 * HTTP_LINGER_BYTES were dropped. */
static void linger(struct http_conn *c)
{
	ssize_t n = recv(c->fd, c->in, sizeof(c->in), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0 || (size_t)n >= c->linger_left)
		c->dead = true;
	else
		c->linger_left -= (size_t)n;
}

bool http_conn_linger_over(struct http_conn *c, uint64_t now, int *timeout_ms)
{
	if (!c->lingering || c->dead)
		return false;
	/* A courtesy only while there is room (HTTP_LINGER_MAX): past HTTP_CONNS_SOFT
	 * connections it ends at once. */
	if (now >= c->linger_until || c->srv->nconns > HTTP_CONNS_SOFT) {
		c->dead = true;
		return true;
	}
	int ms = (int)((c->linger_until - now + 999999) / 1000000);
	if (*timeout_ms < 0 || ms < *timeout_ms)
		*timeout_ms = ms;
	return false;
}

void http_conn_continue(struct http_conn *c)
{
	parse(c);
}

short http_conn_events(const struct http_conn *c)
{
	if (c->dead || c->handling || http_conn_ready(c))
		return 0;
	return c->out_len ? POLLOUT : POLLIN;
}

void http_conn_io(struct http_conn *c, short revents)
{
	if (c->dead || c->handling)
		return;
	if (c->lingering) {
		linger(c);
		return;
	}
	if (c->out_len) {
		if (revents & (POLLOUT | POLLERR | POLLHUP) && flush(c))
			parse(c); /* requests pipelined behind it */
		return;
	}
	if (!(revents & (POLLIN | POLLERR | POLLHUP)))
		return;
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n <= 0) {
		/* The client closed (or reset) with no request in hand: half a request is let go. */
		c->dead = true;
		return;
	}
	c->in_len += (size_t)n;
	c->got_bytes = true;
	parse(c);
}

struct http_conn *http_conn_new(struct api_server *srv, int fd)
{
	struct http_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->srv = srv;
	c->fd = fd;
	srv->hp->init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	return c;
}

const struct api_principal *api_request_principal(void *opaque)
{
	struct http_conn *c = opaque;
	if (!c->who_known) {
		/* A Unix client: asked here, not at accept, so that petrel's own API never pays for it. */
		struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		socklen_t l = sizeof(cr);
		if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
			cr = (struct ucred){ .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		c->who = (struct api_principal){ .kind = API_PRINCIPAL_UNIX, .uid = cr.uid, .gid = cr.gid, .pid = cr.pid };
		c->who_known = true;
	}
	return &c->who;
}

void http_conn_free(struct http_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->url);
	free(c->body);
	free(c->hdrs);
	free(c->out);
	free(c);
}
