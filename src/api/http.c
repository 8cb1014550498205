/* libmicrohttpd behind the API. See http.h. */
#include "api/http.h"
#include "api/http_conns.h"
#include "api/mhd_lib.h"
#include "api/controller.h"
#include "api/router.h"
#include "seccomp/seccomp.h"
#include "util/log.h"
#include "util/unix_socket.h"

#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Per connection: the request line and headers must fit. At most 32 KiB, libmicrohttpd takes
 * the pool from malloc; above, each connection mmaps and munmaps its own (a TLB shootdown
 * across the process's threads per connection: half the CPU of the HTTP fuzz target). */
#define CONNECTION_MEMORY 32768
#define LISTEN_BACKLOG 128

struct api_server {
	struct MHD_Daemon *daemon;
	struct controller *ctl;
	int fd;
	char *path;
	size_t max_payload;
	struct http_conns conns;
};

/* One request (MHD's per-request closure). */
struct request {
	struct api_server *srv;
	struct MHD_Connection *conn;
	char *body;
	size_t len;
	bool too_large;
	bool dispatched;
	/* the answer of a pending request, handed over by the controller's worker */
	pthread_mutex_t lock;
	bool suspended;
	bool have_result;
	struct api_response result;
};

static enum MHD_Result send_response(struct MHD_Connection *conn, struct api_response *r)
{
	struct MHD_Response *resp;
	if (r->body)
		resp = mhd.create_response_from_buffer(strlen(r->body), r->body, MHD_RESPMEM_MUST_COPY);
	else
		resp = mhd.create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	if (r->body)
		mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	mhd.add_response_header(resp, MHD_HTTP_HEADER_SERVER, "petrel API");
	if (r->deprecated)
		mhd.add_response_header(resp, "Deprecation", "true");
	enum MHD_Result ret = mhd.queue_response(conn, r->status, resp);
	mhd.destroy_response(resp);
	return ret;
}

static enum MHD_Result send_fault(struct MHD_Connection *conn, unsigned status, const char *fmt,
				  ...) __attribute__((format(printf, 3, 4)));

static enum MHD_Result send_fault(struct MHD_Connection *conn, unsigned status, const char *fmt,
				  ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	struct api_response r = { 0 };
	api_response_fault(&r, status, "%s", msg);
	enum MHD_Result ret = send_response(conn, &r);
	api_response_free(&r);
	return ret;
}

/* The controller's answer to a pending request (worker thread). */
static void request_done(void *opaque, struct api_response *resp)
{
	struct request *rq = opaque;
	pthread_mutex_lock(&rq->lock);
	rq->result = *resp;
	rq->have_result = true;
	bool resume = rq->suspended;
	struct MHD_Connection *conn = rq->conn;
	rq->suspended = false;
	pthread_mutex_unlock(&rq->lock);
	/* After the unlock: once resumed, MHD's thread may find the client gone and free rq
	 * (on_completed) at once. A suspended connection is not closed, so conn stays valid. */
	if (resume)
		mhd.resume_connection(conn); /* MHD calls on_request again to send it */
}

/* MHD hands the request path over as a C string: a NUL byte in it ("GET /\0x") would cut it
 * short and the rest would go unseen. Before MHD splits off the query and unescapes the path
 * in place, this callback notes the raw path's length (tagged in the closure pointer: odd, so it
 * cannot be mistaken for a request, and nothing to free if the request never reaches us). In
 * the request line "METHOD PATH VERSION" MHD points `version` one byte past the path, so a path
 * whose C-string length ends earlier held a NUL. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)conn;
	return (void *)(((uintptr_t)strlen(uri) << 1) | 1);
}

static int hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decoding of the path and query, in place, except "%00": decoded, it would cut the
 * path short as a NUL byte does; kept as is, the router refuses it as an unknown path. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	char *r = s, *w = s;
	while (*r) {
		int hi = r[0] == '%' ? hex(r[1]) : -1, lo = hi >= 0 ? hex(r[2]) : -1;
		if (lo >= 0 && (hi | lo)) {
			*w++ = (char)(hi << 4 | lo);
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

static bool is_tag(const void *p)
{
	return (uintptr_t)p & 1;
}

struct header_count {
	unsigned content_length, transfer_encoding;
	bool differ;
	const char *first;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct header_count *c = cls;
	(void)kind;
	if (!strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
		if (c->content_length++ && strcmp(c->first, value ? value : ""))
			c->differ = true;
		if (!c->first)
			c->first = value ? value : "";
	} else if (!strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
		c->transfer_encoding++;
	}
	return MHD_YES;
}

/* Framing the request body two ways at once (request smuggling): refused. */
static const char *bad_framing(struct MHD_Connection *conn)
{
	struct header_count c = { 0 };
	mhd.get_connection_values(conn, MHD_HEADER_KIND, count_header, &c);
	if (c.differ)
		return "conflicting Content-Length headers";
	if (c.content_length > 1)
		return "more than one Content-Length header";
	if (c.content_length && c.transfer_encoding)
		return "both Content-Length and Transfer-Encoding";
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct api_server *srv = cls;
	struct request *rq = *con_cls;
	static __thread bool named;

	if (!named) {
		/* MHD's thread: give it Firecracker's name for the API thread (logs, top). */
		pthread_setname_np(pthread_self(), "fc_api");
		named = true;
		seccomp_test_point(SC_API);
	}
	if (!rq || is_tag(rq)) {
		/* Headers are in. Refuse a body announced too large before it is sent: MHD then
		 * discards the rest and closes the connection after the answer. */
		size_t raw_len = rq ? (size_t)((uintptr_t)rq >> 1) : strlen(url);
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->srv = srv;
		rq->conn = conn;
		pthread_mutex_init(&rq->lock, NULL);
		*con_cls = rq;
		if (!version || version != url + raw_len + 1) {
			rq->too_large = true; /* nothing more is read into it */
			return send_fault(conn, 400, "malformed request line (a NUL byte in the path?)");
		}
		const char *framing = bad_framing(conn);
		if (framing) {
			rq->too_large = true;
			return send_fault(conn, 400, "%s", framing);
		}
		const char *cl = mhd.lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl) {
			char *end;
			errno = 0;
			unsigned long long n = strtoull(cl, &end, 10);
			if (!errno && end != cl && n > srv->max_payload) {
				rq->too_large = true;
				return send_fault(conn, 400, "request body of %llu bytes is larger than "
						  "the limit of %zu bytes", n, srv->max_payload);
			}
		}
		return MHD_YES;
	}

	if (*upload_size) {
		/* Body data. Past the limit (a chunked body has no length up front) keep reading
		 * but drop it; the answer is given once the request is complete. */
		size_t n = *upload_size;
		*upload_size = 0;
		if (rq->too_large)
			return MHD_YES;
		if (rq->len + n > srv->max_payload) {
			rq->too_large = true;
			free(rq->body);
			rq->body = NULL;
			return MHD_YES;
		}
		char *b = realloc(rq->body, rq->len + n + 1);
		if (!b)
			return MHD_NO;
		memcpy(b + rq->len, upload, n);
		rq->len += n;
		b[rq->len] = '\0';
		rq->body = b;
		return MHD_YES;
	}

	/* The whole request is in (or we are called again after a resume). */
	pthread_mutex_lock(&rq->lock);
	if (rq->have_result) {
		pthread_mutex_unlock(&rq->lock);
		enum MHD_Result ret = send_response(conn, &rq->result);
		api_response_free(&rq->result);
		rq->have_result = false;
		return ret;
	}
	if (rq->dispatched) {
		/* Woken without an answer (should not happen): wait again. */
		rq->suspended = true;
		mhd.suspend_connection(conn);
		pthread_mutex_unlock(&rq->lock);
		return MHD_YES;
	}
	rq->dispatched = true;
	pthread_mutex_unlock(&rq->lock);
	http_conns_busy(conn, true); /* its connection is not cut while we handle it */

	if (rq->too_large)
		return send_fault(conn, 400, "request body larger than the limit of %zu bytes",
				  srv->max_payload);
	struct api_response resp;
	enum api_result r = api_handle(srv->ctl, method, url, rq->body, rq->len, &resp,
				       request_done, rq);
	if (r == API_DONE) {
		enum MHD_Result ret = send_response(conn, &resp);
		api_response_free(&resp);
		return ret;
	}
	/* Pending: the answer may already be there (the worker can be quick). */
	pthread_mutex_lock(&rq->lock);
	enum MHD_Result ret = MHD_YES;
	if (rq->have_result) {
		ret = send_response(conn, &rq->result);
		api_response_free(&rq->result);
		rq->have_result = false;
	} else {
		rq->suspended = true;
		mhd.suspend_connection(conn);
	}
	pthread_mutex_unlock(&rq->lock);
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	*con_cls = NULL;
	http_conns_busy(conn, false);
	if (!rq || is_tag(rq))
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		log_debug("API connection ended early (reason %d)", (int)toe);
	free(rq->body);
	api_response_free(&rq->result);
	pthread_mutex_destroy(&rq->lock);
	free(rq);
	*con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_debug("http: %s", msg);
}

/* The API socket: a stale one (a petrel that died) is replaced, a live one or another file
 * is left alone. */
static int listen_unix(const char *path)
{
	int fd = unix_listen(path, LISTEN_BACKLOG, false);
	if (fd == -ENAMETOOLONG)
		log_error("API socket path '%s' is too long (at most %zu bytes)", path,
			  sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	else if (fd == -EADDRINUSE)
		log_error("API socket '%s' already exists and is in use, or is not a socket", path);
	else if (fd < 0)
		log_error("cannot listen on API socket '%s': %s", path, strerror(-fd));
	return fd;
}

int api_server_start(struct api_server **out, struct controller *ctl, const char *path,
		     size_t max_payload)
{
	char why[256];
	if (mhd_lib_load(why, sizeof(why)) < 0) {   /* loaded only now (api/mhd_lib.h) */
		log_error("cannot serve the API: %s", why);
		return -ENOTSUP;
	}
	struct api_server *srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->path = strdup(path))) {
		free(srv);
		return -ENOMEM;
	}
	srv->ctl = ctl;
	srv->max_payload = max_payload;
	/* Firecracker's default --mmds-size-limit is the API's payload limit. */
	pthread_mutex_lock(&ctl->lock);
	if (!ctl->mmds_limit)
		ctl->mmds_limit = max_payload;
	pthread_mutex_unlock(&ctl->lock);
	srv->fd = listen_unix(path);
	if (srv->fd < 0) {
		int e = srv->fd;
		free(srv->path);
		free(srv);
		return e;
	}
	/* poll(), not epoll: in its edge-triggered epoll mode libmicrohttpd misses a client's end
	 * of file that arrives with the last bytes of a half-sent request, and keeps such a
	 * connection open for good (found by fuzz_http). A few hundred descriptors at most. */
	srv->daemon = mhd.start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
			MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)srv->fd,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv,
		MHD_OPTION_NOTIFY_CONNECTION, http_conns_notify, &srv->conns,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONNS_HARD,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape, srv,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_END);
	if (!srv->daemon) {
		log_error("cannot start the API server on %s", path);
		close(srv->fd);
		unlink(path);
		free(srv->path);
		free(srv);
		return -EIO;
	}
	log_info("API server listening on %s", path);
	*out = srv;
	return 0;
}

void api_server_stop(struct api_server *srv)
{
	if (!srv)
		return;
	/* Take the listening socket back first: MHD would close it, and it is ours. */
	mhd.quiesce_daemon(srv->daemon);
	mhd.stop_daemon(srv->daemon);
	close(srv->fd);
	unlink(srv->path);
	free(srv->path);
	free(srv);
}
