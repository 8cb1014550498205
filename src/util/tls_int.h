/* What tls.c (handshake) and tls_pump.c (the connection's bytes afterwards) share. */
#ifndef PETREL_UTIL_TLS_INT_H
#define PETREL_UTIL_TLS_INT_H

#include "util/tls.h"
#include "util/tls_lib.h"

#include <stdbool.h>
#include <stddef.h>

#define TLS_PUMP_BUF (64u << 10)

struct tls_pump {
	gnutls_session_t session;
	struct tls_creds *creds;  /* a reference, for as long as the session lives */
	enum tls_role role;
	int sock;                /* the TCP connection */
	int plain;               /* the pump's end of the socketpair */
	char up[TLS_PUMP_BUF];   /* plaintext read from the user, to encrypt */
	size_t up_len, up_off;
	char down[TLS_PUMP_BUF]; /* decrypted, for the user */
	size_t down_len, down_off;
	bool plain_eof;          /* the user shut its writing side (or closed) */
	bool tls_eof;            /* the peer's close_notify, or its end of the connection */
	bool bye_sent;
	bool plain_shut;         /* the user's reading side was told the end */
};

/* After the handshake: make the socketpair, start the thread (kind: util/thread_kind.h), the
 * user's end in *plain. t is the thread's from then on (it frees it). 0 or -errno with err. */
int tls_pump_start(struct tls_pump *t, int kind, int *plain, char *err, size_t errlen);

#endif
