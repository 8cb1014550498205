/* Bookkeeping of the API's connections, so that clients that open many and send slowly
 * (or not at all) cannot keep others out: past HTTP_CONNS_SOFT open connections, each new
 * one closes the oldest connection that has no request being handled (half-sent headers or
 * bodies, idle keep-alives). A request whose body is in (being handled, or waiting for the
 * controller) is never cut. MHD's own connection limit (HTTP_CONNS_HARD) is the backstop
 * that keeps petrel's file descriptors for the VM. All calls come from MHD's thread. */
#ifndef PETREL_API_HTTP_CONNS_H
#define PETREL_API_HTTP_CONNS_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_CONNS_SOFT 64
#define HTTP_CONNS_HARD 256

struct http_conn;

struct http_conns {
	struct http_conn *oldest, *newest;
	unsigned n;
	uint64_t evicted;
};

/* MHD_OPTION_NOTIFY_CONNECTION's callback (cls: the struct http_conns). */
void http_conns_notify(void *cls, struct MHD_Connection *c, void **socket_context,
		       enum MHD_ConnectionNotificationCode code);
/* A request on c was dispatched (busy) or answered (idle again). */
void http_conns_busy(struct MHD_Connection *c, bool busy);

#endif
