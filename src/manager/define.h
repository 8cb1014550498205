/* A VM's definition through the API (define.c): define, undefine, its resources. */
#ifndef PETREL_MANAGER_DEFINE_H
#define PETREL_MANAGER_DEFINE_H

#include "http/response.h"

#include <stddef.h>

struct manager;
struct mgr_vm;

/* POST /vms (m->lock not held: the body is checked first, then the lock taken). */
enum api_result define_vm(struct manager *m, const char *body, size_t len, struct api_response *r);
/* DELETE /vms/NAME: 204, or 409 while it runs (m->lock held). */
enum api_result undefine_vm(struct manager *m, struct mgr_vm *vm, struct api_response *r);
/* PUT or PATCH /vms/NAME/resources (m->lock held). */
enum api_result set_resources(struct manager *m, struct mgr_vm *vm, const char *body, size_t len,
			      struct api_response *r);

#endif
