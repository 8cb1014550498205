/* petreld's API of host networks (net_routes.c), below routes.c's table (its "networks" row):
 *   GET  /networks             [{name, kind, bridge, active, autostart, subnet, vms}]
 *   POST /networks             define (body: a definition): 201
 *   GET  /networks/NAME        {definition, active, bridge, dnsmasq: {pid, restarts}, leases, digest}
 *   DELETE /networks/NAME      undefine
 *   POST /networks/NAME/start, POST /networks/NAME/destroy
 *   PUT  /networks/NAME/autostart {"autostart": bool}
 *   GET  /networks/NAME/leases [{mac, ip, hostname, expiry, vm}]
 * 400 a bad definition or body, 404 no such network or path, 405, 409 a conflict or the
 * network's state. */
#ifndef PETREL_MANAGER_NET_NET_ROUTES_H
#define PETREL_MANAGER_NET_NET_ROUTES_H

#include "http/response.h"

#include <stddef.h>

struct manager;

/* One request under /networks (m->lock held): rest is the path below it, NULL for /networks. */
enum api_result net_route(struct manager *m, const char *method, const char *rest, const char *body, size_t len,
			  struct api_response *r);

#endif
