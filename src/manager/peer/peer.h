/* petreld between hosts (docs/manager.md#between-hosts): the TCP listener, TLS only
 * (tls_listen.c), who may do what (auth.c), and live migration to another host's petreld
 * (migrate.c, migrate_in.c). */
#ifndef PETREL_MANAGER_PEER_H
#define PETREL_MANAGER_PEER_H

#include "manager/definition.h"
#include "http/response.h"

#include <stddef.h>
#include <sys/types.h>

struct api_server;
struct manager;
struct mgr_vm;
struct api_principal;
struct api_response;

#define PEER_DEFAULT_PORT 7443

/* tls_listen.c: listen on m->listen_tcp (ADDR:PORT) with the credentials of m->tls_dir
 * (loaded into m->tls): the listening fd, or -errno with err; then serve it: hand every TLS
 * connection to srv (api_server_adopt) with the principal its handshake proved: a client
 * certificate the CA signed, or none (anonymous; a certificate the CA did not sign is refused
 * in the handshake). 0 or -errno with err (fd closed). */
int peer_listen_open(struct manager *m, char *err, size_t errlen);
int peer_listen_serve(struct manager *m, int fd, struct api_server *srv, char *err, size_t errlen);

/* auth.c: the one place that decides whether who may send method path to petreld: 0 (yes), or
 * an HTTP status (401, 403) with the reason in why. A Unix client is trusted (the socket is
 * root's and the petrel group's, 0660); a TLS client with a certificate the CA signed is an
 * administrator (another host's petreld, an operator); an anonymous TLS client may ask only
 * GET /whoami. The web interface adds its logins and roles here. */
unsigned auth_check(struct manager *m, const struct api_principal *who, const char *method, const char *path,
		    char *why, size_t whylen);
/* GET /whoami: the principal as JSON. */
json_t *auth_principal_json(const struct api_principal *who);

/* peer.c: what both sides of a migration share. */
/* POST /vms/NAME/migrate {"to": "HOST[:PORT]", "downtime_ms": N, "timeout_s": N}. */
struct peer_migrate_req {
	char host[256];
	unsigned port;              /* PEER_DEFAULT_PORT when not given */
	unsigned downtime_ms, timeout_s;
};
/* The bodies (from the network: strict, every field checked, unknown ones refused): 0 or
 * -EINVAL with the reason. */
int peer_migrate_parse(const char *body, size_t len, struct peer_migrate_req *r, char *err, size_t errlen);
/* "HOST", "HOST:PORT", "[IPv6]", "[IPv6]:PORT" or a bare IPv6 address. */
int peer_parse_target(const char *to, char host[256], unsigned *port, char *err, size_t errlen);
/* POST /migrations/incoming {"definition": {...}, "timeout_s": N, "networks": {"NAME": digest},
 * "leases": [{"mac", "ip", "expiry"}]}: the definition checked as POST /vms checks it (def_free
 * it); *networks the digests of the networks it is on, *leases the DHCP leases its MACs held
 * there (checked: at most 256, a MAC, an IPv4 address, an expiry; each NULL when not sent;
 * json_decref). */
int peer_incoming_parse(const char *body, size_t len, struct vm_def *def, unsigned *timeout_s, json_t **networks,
			json_t **leases, char *err, size_t errlen);
/* One request to host:port's petreld over TLS with this host's certificate (the target's must
 * name host): its HTTP status with the JSON answer in *reply (json_decref; a status >= 300 also
 * puts the fault in err), or -errno with err. */
int peer_call(struct manager *m, const char *host, unsigned port, const char *method, const char *path, json_t *body,
	      unsigned timeout_ms, json_t **reply, char *err, size_t errlen);
/* A worker's body whose url_key is a tls: URL gets its "tls_dir" (jail_tls_dir): 0, or
 * -errno with err (this petreld has no --tls-dir). Replicated VMs' verbs (replica.c). */
int peer_tls_body(struct manager *m, struct mgr_vm *vm, json_t *body, const char *url_key, char *err, size_t errlen);
/* A TCP port free on every address now (the receiving worker listens there), or -errno. */
int peer_free_port(void);
/* Take vm out of m's list (m->lock held; its worker has ended), then, without the lock,
 * peer_free_vm_later (no one else holds it then: supervise.c checks a VM is still listed). */
void peer_forget_vm(struct manager *m, struct mgr_vm *vm);
/* peer_parse.c: one line of a source worker's events file (worker_events_path, written by
 * petrel alone): its "migration-completed" event as {"downtime_ms", "total_ms"} (finite,
 * >= 0; total_ms absent if the event has none), or NULL for any other line. */
json_t *peer_event_figures(const char *line);
/* migrate_figures.c: a worker's events file (worker_events_path) opened for reading (-1 if
 * there is none, or it is no regular file), *end where it ends now: what follows is a
 * migration's. */
int peer_events_open(const char *path, off_t *end);
/* The figures of the last "migration-completed" (role source) after offset in it, or NULL. */
json_t *peer_events_figures(int fd, off_t offset);
void peer_free_vm_later(struct mgr_vm *vm);

/* migrate.c: the job of POST /vms/NAME/migrate (jobs.c): the migration to req's host, its
 * figures in *figures; then (m->lock held) its answer into r, true when the VM left (it runs on
 * the target now: freed once answered). */
struct mgr_job;
int peer_migrate_run(struct manager *m, struct mgr_vm *vm, const struct peer_migrate_req *req, json_t **figures,
		     char *err, size_t errlen);
bool peer_migrate_finish(const struct mgr_job *j, int e, const char *err, struct api_response *r);
/* migrate_in.c: POST /migrations/incoming and DELETE /migrations/incoming/NAME (m->lock not
 * held): the target's side. */
enum api_result peer_incoming_route(struct manager *m, const char *method, const char *path, const char *body,
				    size_t len, const struct api_principal *who, struct api_response *r,
				    api_done_fn done, void *opaque);
/* migration_status.c: GET /vms/NAME/migration (m->lock held): outgoing, incoming or none, the
 * worker's progress and the last migration event; answers later. */
enum api_result migration_status_route(struct manager *m, struct mgr_vm *vm, const char *method,
				       struct api_response *r, api_done_fn done, void *opaque);

#endif
