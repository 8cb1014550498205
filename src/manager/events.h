/* The event stream (GET /events) and the log per VM (events.c). */
#ifndef PETREL_MANAGER_EVENTS_H
#define PETREL_MANAGER_EVENTS_H

#include <jansson.h>

struct manager;

void events_init(struct manager *m);
/* Send one event to every subscriber and the VM's log: {"event": what, "vm": name, ...}.
 * extra (taken) adds fields. */
void mgr_event_emit(struct manager *m, const char *vm, const char *what, json_t *extra);
/* A host network's event to every subscriber: {"event": what, "network": name, "time", ...}
 * (no VM's log: petreld's own log has the network's lines). extra (taken) adds fields. */
void mgr_net_event_emit(struct manager *m, const char *network, const char *what, json_t *extra);
/* An image's event (images.c): {"event": what, "image": name, "time", ...}, extra (taken). */
void mgr_image_event_emit(struct manager *m, const char *image, const char *what, json_t *extra);
void events_subscribe(void *m, int fd);
void mgr_vm_log(struct manager *m, const char *vm, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The recent part of the VM's log as a JSON array, oldest first: its "STAMP {event}" lines as
 * the events, other lines as {"stamp", "message"}; empty when there is no log. */
json_t *events_read_log(struct manager *m, const char *vm);

#endif
