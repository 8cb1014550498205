/* petreld between hosts (docs/manager.md#between-hosts): the TCP listener, TLS only
 * (tls_listen.c), who may do what (auth.c), and live migration to another host's petreld
 * (migrate.c, migrate_in.c). */
#ifndef PETREL_MANAGER_PEER_H
#define PETREL_MANAGER_PEER_H

#include "manager/manager.h"

#include <stddef.h>

struct api_server;
struct api_principal;
struct api_response;

#define PEER_DEFAULT_PORT 7443

/* tls_listen.c: listen on m->listen_tcp (ADDR:PORT) with the credentials of m->tls_dir
 * (loaded into m->tls) and hand every TLS connection to srv (api_server_adopt) with the
 * principal its handshake proved: a client certificate the CA signed, or none (anonymous; a
 * certificate the CA did not sign is refused in the handshake). 0 or -errno with err. */
int peer_listen_start(struct manager *m, struct api_server *srv, char *err, size_t errlen);

/* auth.c: the one place that decides whether who may send method path to petreld: 0 (yes), or
 * an HTTP status (401, 403) with the reason in why. A Unix client is trusted (the socket is
 * root's and the petrel group's, 0660); a TLS client with a certificate the CA signed is an
 * administrator (another host's petreld, an operator); an anonymous TLS client may ask only
 * GET /whoami. The web interface adds its logins and roles here. */
unsigned auth_check(struct manager *m, const struct api_principal *who, const char *method, const char *path,
		    char *why, size_t whylen);
/* GET /whoami: the principal as JSON. */
json_t *auth_principal_json(const struct api_principal *who);

#endif
