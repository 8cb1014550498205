/* TLS credentials and the handshake (tls.h); the pump that follows is tls_pump.c. */
#include "util/tls.h"
#include "util/dlopen.h"
#include "util/error.h"
#include "util/tls_int.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct gnutls_lib gt;

int gnutls_lib_load(char *err, size_t errlen)
{
	/* the first symbol is set last (dl_load_syms): set means all are */
	const struct dl_sym syms[] = {
		{ "gnutls_certificate_allocate_credentials", (void **)&gt.cred_alloc },
		{ "gnutls_certificate_free_credentials", (void **)&gt.cred_free },
		{ "gnutls_certificate_set_x509_trust_file", (void **)&gt.trust_file },
		{ "gnutls_certificate_set_x509_key_file", (void **)&gt.key_file },
		{ "gnutls_init", (void **)&gt.init },
		{ "gnutls_deinit", (void **)&gt.deinit },
		{ "gnutls_set_default_priority", (void **)&gt.default_priority },
		{ "gnutls_credentials_set", (void **)&gt.credentials_set },
		{ "gnutls_certificate_server_set_request", (void **)&gt.server_set_request },
		{ "gnutls_session_set_verify_cert", (void **)&gt.set_verify_cert },
		{ "gnutls_session_get_verify_cert_status", (void **)&gt.verify_cert_status },
		{ "gnutls_certificate_verification_status_print", (void **)&gt.status_print },
		{ "gnutls_server_name_set", (void **)&gt.server_name_set },
		{ "gnutls_transport_set_ptr", (void **)&gt.set_ptr },
		{ "gnutls_transport_set_push_function", (void **)&gt.set_push },
		{ "gnutls_transport_set_pull_function", (void **)&gt.set_pull },
		{ "gnutls_transport_set_pull_timeout_function", (void **)&gt.set_pull_timeout },
		{ "gnutls_transport_set_errno", (void **)&gt.set_errno },
		{ "gnutls_handshake", (void **)&gt.handshake },
		{ "gnutls_handshake_set_timeout", (void **)&gt.handshake_set_timeout },
		{ "gnutls_record_send", (void **)&gt.record_send },
		{ "gnutls_record_recv", (void **)&gt.record_recv },
		{ "gnutls_record_check_pending", (void **)&gt.record_check_pending },
		{ "gnutls_bye", (void **)&gt.bye },
		{ "gnutls_strerror", (void **)&gt.strerror },
		{ "gnutls_alert_get", (void **)&gt.alert_get },
		{ "gnutls_alert_get_name", (void **)&gt.alert_get_name },
		{ "gnutls_certificate_get_peers", (void **)&gt.get_peers },
		{ "gnutls_x509_crt_init", (void **)&gt.crt_init },
		{ "gnutls_x509_crt_import", (void **)&gt.crt_import },
		{ "gnutls_x509_crt_get_dn3", (void **)&gt.crt_get_dn3 },
		{ "gnutls_x509_crt_deinit", (void **)&gt.crt_deinit },
		{ "gnutls_cipher_get", (void **)&gt.cipher_get },
		{ "gnutls_cipher_get_name", (void **)&gt.cipher_get_name },
		{ "gnutls_protocol_get_version", (void **)&gt.protocol_get_version },
		{ "gnutls_protocol_get_name", (void **)&gt.protocol_get_name },
		{ "gnutls_certificate_verify_peers3", (void **)&gt.verify_peers3 },
		{ "gnutls_alert_send", (void **)&gt.alert_send },
		{ "gnutls_alert_send_appropriate", (void **)&gt.alert_send_appropriate },
		{ "gnutls_record_set_timeout", (void **)&gt.record_set_timeout },
		{ "gnutls_free", (void **)&gt.free },
	};
	return dl_load_syms("libgnutls.so.30", syms, sizeof(syms) / sizeof(syms[0]), err, errlen);
}

struct tls_creds {
	gnutls_certificate_credentials_t x509;
	atomic_int refs;
};

struct tls_creds *tls_creds_ref(struct tls_creds *c)
{
	if (c)
		atomic_fetch_add(&c->refs, 1);
	return c;
}

int tls_creds_load(const char *dir, struct tls_creds **out, char *err, size_t errlen)
{
	*out = NULL;
	int e = gnutls_lib_load(err, errlen);
	if (e < 0)
		return e;
	char ca[4096], cert[4096], key[4096];
	if (!dir || !*dir || snprintf(ca, sizeof(ca), "%s/ca.pem", dir) >= (int)sizeof(ca))
		return error_set(err, errlen, -EINVAL,
				 "TLS: a certificate directory (ca.pem, cert.pem, key.pem) is needed");
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	const char *files[] = { ca, cert, key };
	for (size_t i = 0; i < 3; i++)
		if (access(files[i], R_OK) < 0) {
			e = error_set(err, errlen, -errno, "TLS: cannot read %s: %s", files[i],
				      strerror(errno));
			return e;
		}
	struct tls_creds *c = calloc(1, sizeof(*c));
	if (c)
		atomic_init(&c->refs, 1);
	if (!c || gt.cred_alloc(&c->x509) < 0) {
		free(c);
		return error_set(err, errlen, -ENOMEM, "TLS: out of memory");
	}
	int r = gt.trust_file(c->x509, ca, GNUTLS_X509_FMT_PEM);
	if (r <= 0) {
		e = error_set(err, errlen, -EINVAL, "TLS: %s: %s", ca,
			      r == 0 ? "no certificate in it" : gt.strerror(r));
	} else if ((r = gt.key_file(c->x509, cert, key, GNUTLS_X509_FMT_PEM)) < 0) {
		e = error_set(err, errlen, -EINVAL, "TLS: %s with %s: %s", cert, key, gt.strerror(r));
	}
	if (e < 0) {
		tls_creds_free(c);
		return e;
	}
	*out = c;
	return 0;
}

void tls_creds_free(struct tls_creds *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) > 1)
		return;
	if (c->x509)
		gt.cred_free(c->x509);
	free(c);
}

/* The transport: send() without SIGPIPE, recv(), and a poll for the handshake's deadline. */
static ssize_t push(gnutls_transport_ptr_t p, const void *buf, size_t n)
{
	struct tls_pump *t = p;
	ssize_t r = send(t->sock, buf, n, MSG_NOSIGNAL);
	if (r < 0)
		gt.set_errno(t->session, errno);
	return r;
}

static ssize_t pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
	struct tls_pump *t = p;
	ssize_t r = recv(t->sock, buf, n, 0);
	if (r < 0)
		gt.set_errno(t->session, errno);
	return r;
}

static int pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
	struct tls_pump *t = p;
	struct pollfd pf = { .fd = t->sock, .events = POLLIN };
	int r = poll(&pf, 1, ms == GNUTLS_INDEFINITE_TIMEOUT ? -1 : (int)ms);
	if (r < 0)
		gt.set_errno(t->session, errno);
	return r;
}

static bool cert_alert(int alert)
{
	return (alert >= GNUTLS_A_BAD_CERTIFICATE && alert <= GNUTLS_A_ACCESS_DENIED) ||
	       alert == GNUTLS_A_CERTIFICATE_REQUIRED;
}

/* A failed handshake's reason: what was wrong with the peer's certificate, what the peer said
 * (an alert) of ours, or GnuTLS's error. */
static int handshake_error(struct tls_pump *t, int r, char *err, size_t errlen)
{
	const char *side = t->role == TLS_CLIENT ? "server" : "client";
	if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR || r == GNUTLS_E_CERTIFICATE_ERROR) {
		unsigned status = gt.verify_cert_status(t->session);
		gnutls_datum_t d = { NULL, 0 };
		if (gt.status_print(status, GNUTLS_CRT_X509, &d, 0) == 0 && d.data) {
			error_set(err, errlen, -EACCES, "TLS: the %s's certificate is refused: %s", side,
				  d.data);
			(*gt.free)(d.data);
		} else {
			error_set(err, errlen, -EACCES, "TLS: the %s's certificate is refused (status 0x%x)",
				  side, status);
		}
		return -EACCES;
	}
	if (r == GNUTLS_E_NO_CERTIFICATE_FOUND || r == GNUTLS_E_CERTIFICATE_REQUIRED)
		return error_set(err, errlen, -EACCES,
				 "TLS: the %s presented no certificate; one signed by our CA is required",
				 side);
	if (r == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		int a = gt.alert_get(t->session);
		const char *name = gt.alert_get_name(a);
		if (cert_alert(a))
			return error_set(err, errlen, -EACCES,
					 "TLS: the %s refused our certificate (alert: %s)", side,
					 name ? name : "?");
		return error_set(err, errlen, -EPROTO, "TLS: the %s ended the handshake (alert: %s)", side,
				 name ? name : "?");
	}
	if (r == GNUTLS_E_TIMEDOUT)
		return error_set(err, errlen, -ETIMEDOUT,
				 "TLS: the handshake with the %s did not finish in time", side);
	if (r == GNUTLS_E_PREMATURE_TERMINATION || r == GNUTLS_E_PUSH_ERROR || r == GNUTLS_E_PULL_ERROR)
		return error_set(err, errlen, -ECONNRESET,
				 "TLS: the %s hung up during the handshake (did it refuse our certificate?)",
				 side);
	if (r == GNUTLS_E_UNEXPECTED_PACKET_LENGTH || r == GNUTLS_E_UNSUPPORTED_VERSION_PACKET ||
	    r == GNUTLS_E_UNEXPECTED_PACKET)
		return error_set(err, errlen, -EPROTO, "TLS: the %s does not speak TLS (%s)", side,
				 gt.strerror(r));
	return error_set(err, errlen, -EPROTO, "TLS: handshake with the %s: %s", side, gt.strerror(r));
}

/* A server's check of an optional client certificate: none is fine, one must chain to our CA.
 * A refused one is told to the client with an alert. */
static int client_cert_check(struct tls_pump *t, char *err, size_t errlen)
{
	unsigned n = 0, status = 0;
	if (!gt.get_peers(t->session, &n) || !n)
		return 0;
	int r = gt.verify_peers3(t->session, NULL, &status);
	if (r == 0 && status == 0)
		return 0;
	gnutls_datum_t d = { NULL, 0 };
	if (r == 0 && gt.status_print(status, GNUTLS_CRT_X509, &d, 0) == 0 && d.data) {
		error_set(err, errlen, -EACCES, "TLS: the client's certificate is refused: %s", d.data);
		(*gt.free)(d.data);
	} else {
		error_set(err, errlen, -EACCES, "TLS: the client's certificate is refused: %s",
			  r ? gt.strerror(r) : "not trusted");
	}
	gt.alert_send(t->session, GNUTLS_AL_FATAL, GNUTLS_A_BAD_CERTIFICATE);
	return -EACCES;
}

#define TLS_CONFIRM 'P'

/* tls_opts.confirm: the server's byte after it accepted the client, the client's wait for it. */
static int confirm(struct tls_pump *t, int timeout_ms, char *err, size_t errlen)
{
	char b = TLS_CONFIRM;
	ssize_t r;
	if (t->role == TLS_SERVER) {
		do
			r = gt.record_send(t->session, &b, 1);
		while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
		return r == 1 ? 0 : handshake_error(t, (int)r, err, errlen);
	}
	gt.record_set_timeout(t->session, (unsigned)timeout_ms);
	do
		r = gt.record_recv(t->session, &b, 1);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	gt.record_set_timeout(t->session, 0);
	if (r == 1 && b == TLS_CONFIRM)
		return 0;
	if (r >= 0)
		return error_set(err, errlen, -EPROTO,
				 "TLS: the server is not a petrel peer (no confirmation)");
	return handshake_error(t, (int)r, err, errlen);
}

/* The peer's certificate's subject DN, if it sent one (it was verified by then). */
static void peer_subject(struct tls_pump *t, struct tls_peer *peer)
{
	memset(peer, 0, sizeof(*peer));
	unsigned n = 0;
	const gnutls_datum_t *certs = gt.get_peers(t->session, &n);
	gnutls_x509_crt_t crt;
	if (!certs || !n || gt.crt_init(&crt) < 0)
		return;
	gnutls_datum_t dn = { NULL, 0 };
	if (gt.crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 && gt.crt_get_dn3(crt, &dn, 0) == 0) {
		peer->has_cert = true;
		snprintf(peer->subject, sizeof(peer->subject), "%s", (const char *)dn.data);
		(*gt.free)(dn.data);
	}
	gt.crt_deinit(crt);
}

int tls_wrap(int sock, struct tls_creds *c, const struct tls_opts *o, struct tls_peer *peer, int *plain,
	     char *err, size_t errlen)
{
	*plain = -1;
	struct tls_pump *t = calloc(1, sizeof(*t));
	if (!t) {
		close(sock);
		return error_set(err, errlen, -ENOMEM, "TLS: out of memory");
	}
	t->sock = sock;
	t->plain = -1;
	t->role = o->role;
	t->creds = tls_creds_ref(c);
	int r = gt.init(&t->session, (o->role == TLS_SERVER ? GNUTLS_SERVER : GNUTLS_CLIENT));
	if (r < 0) {
		tls_creds_free(t->creds);
		free(t);
		close(sock);
		return error_set(err, errlen, -ENOMEM, "TLS: %s", gt.strerror(r));
	}
	gt.default_priority(t->session);
	gt.credentials_set(t->session, GNUTLS_CRD_CERTIFICATE, c->x509);
	if (o->role == TLS_SERVER) {
		gt.server_set_request(t->session, o->client_auth == TLS_CLIENT_CERT_REQUIRED ? GNUTLS_CERT_REQUIRE
											       : GNUTLS_CERT_REQUEST);
		/* A required certificate is checked in the handshake; an optional one after it
		 * (client_cert_check), as GnuTLS's check in the handshake refuses none. */
		if (o->client_auth == TLS_CLIENT_CERT_REQUIRED)
			gt.set_verify_cert(t->session, NULL, 0);
	} else {
		const char *name = o->server_name && *o->server_name ? o->server_name : NULL;
		if (name)
			gt.server_name_set(t->session, GNUTLS_NAME_DNS, name, strlen(name));
		gt.set_verify_cert(t->session, name, 0);
	}
	gt.set_ptr(t->session, t);
	gt.set_push(t->session, push);
	gt.set_pull(t->session, pull);
	gt.set_pull_timeout(t->session, pull_timeout);
	gt.handshake_set_timeout(t->session, o->timeout_ms > 0 ? (unsigned)o->timeout_ms : 10000);
	do
		r = gt.handshake(t->session);
	while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
	int e = r < 0 ? handshake_error(t, r, err, errlen) : 0;
	if (r < 0 && r != GNUTLS_E_FATAL_ALERT_RECEIVED)
		gt.alert_send_appropriate(t->session, r);   /* the peer learns why (a refused certificate) */
	if (e == 0 && o->role == TLS_SERVER && o->client_auth == TLS_CLIENT_CERT_OPTIONAL)
		e = client_cert_check(t, err, errlen);
	if (e == 0) {
		struct tls_peer who;
		peer_subject(t, &who);
		if (o->role == TLS_SERVER && o->client_auth == TLS_CLIENT_CERT_REQUIRED && !who.has_cert)
			e = error_set(err, errlen, -EACCES, "TLS: the client presented no certificate");
		if (peer)
			*peer = who;
	}
	if (e == 0 && o->confirm)
		e = confirm(t, o->timeout_ms > 0 ? o->timeout_ms : 10000, err, errlen);
	if (e == 0)
		e = tls_pump_start(t, o->thread_kind, plain, err, errlen);
	if (e < 0) {
		gt.deinit(t->session);
		close(sock);
		tls_creds_free(t->creds);
		free(t);
	}
	return e;
}
