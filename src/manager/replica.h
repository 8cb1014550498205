/* petreld's replicated VMs (docs/manager.md#replicated-vms): the verbs' bodies (replica_args.c)
 * and the rest (replica.c). Declared in manager.h: the route, the verbs, the worker's end. */
#ifndef PETREL_MANAGER_REPLICA_H
#define PETREL_MANAGER_REPLICA_H

#include "manager/manager.h"

/* The body of verb ("standby", "primary", "promote"; an empty body is {}) checked: *out the
 * object (the caller frees it), or -EINVAL with the reason. */
int replica_parse(const char *verb, const char *body, size_t len, json_t **out, char *err, size_t errlen);

#endif
