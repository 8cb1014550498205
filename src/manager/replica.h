/* petreld's replicated VMs (docs/manager.md#replicated-vms): the verbs' bodies (replica_args.c)
 * and the rest (replica.c): /vms/NAME/replica[/VERB], the verbs, the worker's end. */
#ifndef PETREL_MANAGER_REPLICA_H
#define PETREL_MANAGER_REPLICA_H

#include "manager/job.h"

#include <jansson.h>
#include <stddef.h>

struct manager;
struct mgr_vm;
struct api_response;

/* The body of verb ("standby", "primary", "promote"; an empty body is {}) checked: *out the
 * object (the caller frees it), or -EINVAL with the reason. */
int replica_parse(const char *verb, const char *body, size_t len, json_t **out, char *err, size_t errlen);

/* Answers into r and returns MGR_VERB_NONE, or returns the verb to run as a job with its body
 * in *args (m->lock held). */
enum mgr_verb replica_route(struct manager *m, struct mgr_vm *vm, const char *method, const char *rest,
			    const char *body, size_t len, json_t **args, struct api_response *r);
/* The verbs (jobs.c): a standby's worker, replication from a primary (started if need be, and
 * waited for until protected), a standby promoted. args: the verb's body. */
int replica_standby(struct manager *m, struct mgr_vm *vm, json_t *args, char *err, size_t errlen);
int replica_primary(struct manager *m, struct mgr_vm *vm, json_t *args, char *err, size_t errlen);
/* args: the verb's body, {"by": WHO} optional (the status says who promoted it: the cluster's
 * fence alert, a person). */
int replica_promote(struct manager *m, struct mgr_vm *vm, json_t *args, char *err, size_t errlen);
/* The worker of vm has ended (m->lock held): its part in a pair with it. */
void replica_ended(struct manager *m, struct mgr_vm *vm);
/* vm's replicated worker was re-adopted (adopt.c): follow its replication again. */
void replica_adopted(struct manager *m, struct mgr_vm *vm);

#endif
