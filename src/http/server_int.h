/* Inside the HTTP server (server.c: the thread, the socket, the connections; conn.c: one
 * connection's requests and answers; request.c: reading a request). */
#ifndef PETREL_HTTP_SERVER_INT_H
#define PETREL_HTTP_SERVER_INT_H

#include "http/parser_lib.h"
#include "http/response.h"
#include "http/server.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 32768   /* a request line and its headers, together */
#define HTTP_IN_BUF 4096      /* bytes read from a connection at a time */
#define HTTP_REQUESTS_PER_ROUND 4 /* answered on one connection before the others' turn */
#define HTTP_NEW_GRACE_MS 1000    /* a new connection is not cut before it could send */
/* After an answer that closes the connection, what the client still sends is read and dropped
 * for up to HTTP_LINGER_MS or HTTP_LINGER_BYTES (a lingering close, as nginx and Apache do):
 * closed at once with its bytes unread, the client's send of a body still under way failed
 * with EPIPE before it read the answer (a 2 MB PUT past the payload limit), and a read after
 * the answer got ECONNRESET instead of the end of file. */
#define HTTP_LINGER_MS 2000
#define HTTP_LINGER_BYTES (16u << 20)
/* Only while at most HTTP_CONNS_SOFT are open, and at most HTTP_LINGER_MAX at once: clients
 * that send garbage and go on sending would otherwise each hold a descriptor all the while, and
 * when the many were cut together they all came back at once, every new one safe from
 * eviction for its first second (test_slow_clients_cannot_hold_the_api failed 1 run in 30). */
#define HTTP_LINGER_MAX 8
/* Past HTTP_CONNS_SOFT open connections each new one closes the oldest that has no request
 * in hand (half-sent headers or bodies, idle keep-alives), so clients that open many and send
 * slowly cannot keep others out. At HTTP_CONNS_HARD no more are accepted until some close:
 * petrel's descriptors are kept for the VM. */
#define HTTP_CONNS_SOFT 64
#define HTTP_CONNS_HARD 256

struct http_conn {
	struct http_conn *older, *newer;   /* the server's list, oldest first */
	struct api_server *srv;
	int fd;
	http_parser parser;
	char in[HTTP_IN_BUF];
	size_t in_len, in_off;             /* bytes read, of which parsed */

	/* the request being read */
	size_t head_len;                   /* its request line and headers so far */
	char *url;
	size_t url_len, url_cap;
	char *body;
	size_t body_len, body_cap;
	char field[24];                    /* the header name being read (cut: not one we track) */
	size_t field_len;
	bool in_value;
	int header;                        /* which tracked header the value belongs to */
	unsigned n_content_length, n_transfer_encoding;
	char cl_first[24], value[24];      /* the first Content-Length; the value being read */
	size_t cl_first_len, value_len;
	bool cl_differ, expect_continue;
	bool head_only;                    /* HEAD: the answer's head without its body */
	bool http10;                       /* an HTTP/1.0 request: keep-alive must be said */
	char *hdrs;                        /* every header: "name\0value\0"... (http_request_header) */
	size_t hdrs_len, hdrs_cap;
	bool hdr_in_value;
	const char *query;                 /* after '?' in url, while the handler runs */
	unsigned fault_status;             /* set by a callback that refuses the request */
	char fault[160];
	bool complete;                     /* the whole request is in (the parser is paused) */
	bool in_request;                   /* between a request's first byte and its end */
	bool got_bytes;                    /* the client has sent something */
	uint64_t accepted_ns;              /* now_ns() */
	struct api_principal who;          /* who is at the other end (api_request_principal) */
	bool who_known;                    /* Unix peers: asked the kernel on first use */

	/* the answer */
	bool handling;                     /* with the handler, which answers later */
	bool keep_alive;
	bool close_after;                  /* close once the output is out */
	bool lingering;                    /* the answer is out, our side shut: input dropped */
	uint64_t linger_until;             /* now_ns() deadline of that */
	size_t linger_left;                /* bytes still dropped before closing */
	bool dead;                         /* to be closed and freed by the server */
	char *out;
	size_t out_len, out_off;

	/* handed over by the handler's done(), under srv->lock */
	struct http_conn *next_done;
	struct api_response result;
};

struct api_server {
	api_handler_fn handle;             /* api_handle() on a controller, or petreld's */
	void *ctx;
	const struct http_parser_lib *hp;  /* the parser's functions (parser_lib.h) */
	int fd;                            /* listening */
	int wake;                          /* eventfd: answers are ready, or stop */
	char *path;
	size_t max_payload;
	pthread_t thread;
	pthread_mutex_t lock;              /* done, stopping */
	struct http_conn *done;            /* answered by the handler, to be sent */
	bool stopping;
	struct http_conn *oldest, *newest;
	unsigned nconns;
	unsigned nlingering;               /* of them, lingering (HTTP_LINGER_MAX) */
	uint64_t evicted;
	struct adopted_conn *adopted;           /* api_server_adopt: to be served, under lock */
	bool accept_paused;                /* accept failed (no descriptor): the listener rests */
	uint64_t accept_failures;
};

/* A connection accepted on fd (non-blocking), or NULL without memory. */
struct http_conn *http_conn_new(struct api_server *srv, int fd);
void http_conn_free(struct http_conn *c);
/* The poll events c waits for now. */
short http_conn_events(const struct http_conn *c);
/* poll said revents for c: read and parse, or write, or see the end. */
void http_conn_io(struct http_conn *c, short revents);
/* Requests read and not handled yet (the round's share was used up): http_conn_continue()
 * in the next round, without waiting for poll. */
bool http_conn_ready(const struct http_conn *c);
/* A lingering connection whose time is up is marked dead (true); else *timeout_ms (-1: none)
 * is lowered to when it will be. */
bool http_conn_linger_over(struct http_conn *c, uint64_t now, int *timeout_ms);
void http_conn_continue(struct http_conn *c);
/* The handler's answer to c's pending request is in c->result: send it. */
void http_conn_answer(struct http_conn *c);

/* request.c: run the parser over n bytes read from the connection (its callbacks keep the
 * request on c, or refuse it: c->fault_status); how many it took, as http-parser's execute. */
size_t http_request_execute(struct http_conn *c, const char *at, size_t n);
/* The request frames its body two ways at once (request smuggling): why, or NULL. */
const char *http_request_bad_framing(const struct http_conn *c);
/* Percent-decoding of the path, in place, except "%00": decoded, it would cut the path short
 * as a NUL byte does; kept as is, the router refuses it as an unknown path. */
void http_request_unescape(char *path);

#endif
