/* An HTTP answer as a handler gives it to the server (server.h): status, JSON body (or another
 * body and its type), extra header lines, or a long-lived stream. petrel's REST API
 * (api/router.h) and petreld's (src/manager) both answer with it: 200 with a JSON body, 204
 * without one, {"fault_message": "..."} with an error status. */
#ifndef PETREL_HTTP_RESPONSE_H
#define PETREL_HTTP_RESPONSE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FAULT_MAX 1024 /* longest fault_message */

struct api_response {
	unsigned status;   /* HTTP status */
	char *body;        /* malloc'd JSON text, or NULL for no body (204) */
	bool deprecated;   /* the request used a deprecated field: a "Deprecation: true" header */
	/* A long-lived answer (petreld's GET /events): the server sends the head with no length,
	 * then gives the connection's descriptor to stream(stream_opaque, fd), which owns it from
	 * then on (fd -1: the client went away first); body is not sent. NULL for every ordinary answer. */
	void (*stream)(void *stream_opaque, int fd);
	void *stream_opaque;
	/* petreld's web page (src/manager/web*.c): a body that is not JSON (a static file) of
	 * body_len bytes (0: strlen) and its Content-Type (NULL: JSON), and more header lines
	 * ("Name: value\r\n"..., malloc'd: Set-Cookie, security headers, a WebSocket's accept). */
	const char *content_type;
	size_t body_len;
	char *headers;
};

/* Called once with the answer of a request that its handler left pending; takes ownership
 * of resp->body. May run on another thread, even before the handler has returned. */
typedef void (*api_done_fn)(void *opaque, struct api_response *resp);

/* What a handler did with a request: answered it in *resp, or will through done(). */
enum api_result { API_DONE = 0, API_PENDING = 1 };

/* A {"fault_message": ...} response (the message made printable ASCII: it may quote what the
 * client sent). */
void api_response_fault(struct api_response *resp, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* status with body (taken) as compact JSON; body NULL (a json_pack that failed) or no memory
 * for the text: 500 "out of memory". */
void api_set_json(struct api_response *resp, unsigned status, json_t *body);
void api_response_free(struct api_response *resp);
/* Bytes outside printable ASCII in s become '?', in place: text that quotes what a client sent
 * (a fault message, a log line) then never holds invalid UTF-8 for the JSON encoder, and a log
 * line cannot be forged. */
void http_printable(char *s);

#endif
