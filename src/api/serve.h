/* petrel's REST API on its Unix socket: src/http's server with api_handle() (router.h) as its
 * handler. */
#ifndef PETREL_API_SERVE_H
#define PETREL_API_SERVE_H

#include "http/server.h"

#include <stddef.h>

struct controller;

/* Create, bind and listen on the socket at path, then serve ctl's API there (a stale socket
 * file is replaced, as api_server_start_handler says). Returns 0 or -errno (logged). */
int api_server_start(struct api_server **out, struct controller *ctl, const char *path,
		     size_t max_payload);

#endif
