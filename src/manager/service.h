/* What petreld's main (main.c) starts: re-adoption (adopt.c), the API (routes.c) and supervision
 * (supervise.c). */
#ifndef PETREL_MANAGER_SERVICE_H
#define PETREL_MANAGER_SERVICE_H

struct manager;
struct mgr_vm;
struct api_server;

/* adopt.c: at start-up, re-adopt every worker that outlived the last petreld. */
void adopt_all(struct manager *m);
/* routes.c: serve the API on m->socket_path. */
int mgr_api_start(struct manager *m, struct api_server **out);
/* supervise.c: the main thread's loop; a worker's end (m->lock held). */
void supervise_loop(struct manager *m);
/* Every shut-off VM the definitions mark autostart is due to start: the loop starts it. */
void supervise_autostart(struct manager *m);
void supervise_ended(struct manager *m, struct mgr_vm *vm, int status);

#endif
