/* A VM's guest agent as petreld sees it (guest.c, docs/guest-agent.md): its worker's /guest/...
 * relayed, and a watcher keeping what each running VM's agent says about its interfaces. */
#ifndef PETREL_MANAGER_GUEST_H
#define PETREL_MANAGER_GUEST_H

#include "http/response.h"

#include <stddef.h>

struct manager;
struct mgr_vm;

/* /vms/NAME/guest/REST (m->lock held): GET ping, info, interfaces; PUT fsfreeze, shutdown, time,
 * fstrim, answered later from a thread of its own with the worker's answer (400 no agent, 409 not
 * running, 502 a bad or no answer, 504 none in time). */
enum api_result guest_route(struct manager *m, struct mgr_vm *vm, const char *method, const char *rest,
			    const char *body, size_t len, struct api_response *r, api_done_fn done, void *opaque);
/* The watcher thread: every running VM with an agent asked for its interfaces now and then
 * (vm->guest_ifs, the event "guest addresses changed"). 0 or -errno. */
int guest_watch_start(struct manager *m);

#endif
