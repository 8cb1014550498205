/* TLS with mutual certificate authentication (docs/security.md#pki), on GnuTLS (Debian's
 * libgnutls30), loaded with dlopen on first use so that petrel's start-up never pays for its
 * chain of shared objects (README.md#libraries).
 *
 * The design: petrel's migration, replication and HTTP code all work on plain stream
 * descriptors, and the kernel here has no kTLS. So a TLS connection is handed to them as a
 * plaintext descriptor: one end of a Unix socketpair, with a pump thread that moves bytes
 * between the other end and the TLS session on the real socket (encrypting one way,
 * decrypting the other). Nothing above changes; a shutdown() or close() of the plaintext end
 * ends the TLS session (close_notify) and the TCP connection; the peer closing does the same
 * the other way. docs/migration.md#tls gives the cost measured (bench/tls.py).
 *
 * Credentials come from a directory holding ca.pem (the CA every peer's certificate must be
 * signed by), cert.pem (this host's certificate, used both as server and as client) and
 * key.pem (its private key); scripts/pki.sh makes them. */
#ifndef PETREL_UTIL_TLS_H
#define PETREL_UTIL_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct tls_creds;

/* Load dir/{ca.pem,cert.pem,key.pem} (and GnuTLS, once). The files are read here, so a caller
 * that is about to lose access (a chroot, seccomp) may load them first. 0, or -errno with err
 * naming the file and the reason. Thread-safe; creds are shared read-only once loaded. */
int tls_creds_load(const char *dir, struct tls_creds **out, char *err, size_t errlen);
/* Credentials are counted: each session holds them (its pump too, which may outlive its user),
 * tls_creds_ref takes one more, tls_creds_free drops one (the last frees them). NULL is fine. */
struct tls_creds *tls_creds_ref(struct tls_creds *c);
void tls_creds_free(struct tls_creds *c);

enum tls_role { TLS_CLIENT, TLS_SERVER };

/* How the server treats a client without a certificate. A client that presents one the CA
 * did not sign is refused in either case. */
enum tls_client_auth { TLS_CLIENT_CERT_REQUIRED, TLS_CLIENT_CERT_OPTIONAL };

/* Who is at the other end, once the handshake is done. */
struct tls_peer {
	bool has_cert;                  /* a certificate the CA signed (always, for a client's peer) */
	char subject[256];              /* its subject DN, RFC 4514 ("CN=host-a,O=petrel") */
};

struct tls_opts {
	enum tls_role role;
	/* client: the name (DNS name or IP address) the server's certificate must carry; NULL
	 * checks the CA's signature only. */
	const char *server_name;
	enum tls_client_auth client_auth; /* server */
	int timeout_ms;                 /* the handshake's deadline (<= 0: 10 s) */
	int thread_kind;                /* the pump thread's seccomp kind (util/thread_kind.h) */
	/* Both ends are petrel's (migration, replication): the server confirms with one byte that
	 * it accepted the client's certificate, and the client waits for it. In TLS 1.3 a client's
	 * handshake ends before the server has checked its certificate, so without this a refused
	 * client learned it only at its first read, as a broken stream; with it, tls_wrap fails
	 * on both sides with the reason. Not for standard clients (browsers, curl). */
	bool confirm;
};

/* Run the handshake on the connected socket sock (blocking, within o->timeout_ms), then start
 * the pump: *plain is the plaintext descriptor (a SOCK_STREAM Unix socket, close-on-exec) that
 * the caller uses instead of sock from now on. sock belongs to the pump from the call on (it
 * is closed on failure too). peer (may be NULL) says who the other end is. 0, or -errno with
 * err saying why: -EACCES for a certificate refused (either side's view), -ETIMEDOUT, -EPROTO
 * for any other TLS failure, -ECONNRESET if the peer hung up during the handshake. */
int tls_wrap(int sock, struct tls_creds *c, const struct tls_opts *o, struct tls_peer *peer, int *plain,
	     char *err, size_t errlen);

/* Pump threads still running (tests: none is left behind after its connection ends). */
unsigned tls_pumps_running(void);

#endif
