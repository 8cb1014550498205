/* Migration endpoints: "tcp:HOST:PORT" (HOST a name, an IPv4 address or [IPv6]), "tls:HOST:PORT"
 * (the same over TLS with mutual certificate authentication, util/tls.h, docs/migration.md#tls)
 * and "unix:PATH". */
#ifndef PETREL_MIGRATION_URL_H
#define PETREL_MIGRATION_URL_H

#include <stdbool.h>
#include <stddef.h>

struct tls_creds;
/* A tls: endpoint's credentials, and the seccomp kind of its pump thread (util/thread_kind.h:
 * the kind of the thread that connects or accepts). */
struct mig_tls {
	struct tls_creds *creds;
	int pump_kind;
};

/* A listening socket for url (bound now, so a bad address is reported at once). fd or
 * -errno with the reason in err. */
int mig_listen(const char *url, char *err, size_t errlen);
int mig_listen_backlog(const char *url, int backlog, char *err, size_t errlen);
/* One connection on a listening socket; timeout_ms < 0: wait for ever, or until cancel_fd
 * (an eventfd, or -1) is readable (-ECANCELED). With tls (a tls: listener), the peer must
 * present a certificate our CA signed, and the descriptor returned is the TLS session's
 * plaintext end (-EACCES with the reason if its certificate is refused). */
int mig_accept(int lfd, int timeout_ms, int cancel_fd, const struct mig_tls *tls, char *err, size_t errlen);
/* Connect to url within timeout_ms. A tls: url needs tls; the server's certificate must be
 * signed by our CA and carry the url's HOST (a DNS name or IP address). */
int mig_connect(const char *url, int timeout_ms, const struct mig_tls *tls, char *err, size_t errlen);
bool mig_url_is_tls(const char *url);
/* Is url well formed (for request validation)? 0 or -EINVAL with why. */
int mig_url_check(const char *url, char *err, size_t errlen);
/* A peer that stops reading without closing fails a send on s after ms without progress
 * (60 s on every migration socket; replication sets its failure timeout). */
void mig_send_timeout(int s, unsigned ms);

#endif
