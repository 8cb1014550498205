/* Migration endpoints: "tcp:HOST:PORT" (HOST a name, an IPv4 address or [IPv6]) and
 * "unix:PATH". */
#ifndef PETREL_MIGRATION_URL_H
#define PETREL_MIGRATION_URL_H

#include <stddef.h>

/* A listening socket for url (bound now, so a bad address is reported at once). fd or
 * -errno with the reason in err. */
int mig_listen(const char *url, char *err, size_t errlen);
/* One connection on a listening socket; timeout_ms < 0: wait for ever, or until cancel_fd
 * (an eventfd, or -1) is readable (-ECANCELED). */
int mig_accept(int lfd, int timeout_ms, int cancel_fd, char *err, size_t errlen);
/* Connect to url within timeout_ms. */
int mig_connect(const char *url, int timeout_ms, char *err, size_t errlen);
/* Is url well formed (for request validation)? 0 or -EINVAL with why. */
int mig_url_check(const char *url, char *err, size_t errlen);
/* A peer that stops reading without closing fails a send on s after ms without progress
 * (60 s on every migration socket; replication sets its failure timeout). */
void mig_send_timeout(int s, unsigned ms);

#endif
