/* petreld's client of a worker's API (worker_wait.c), below everything that talks to a
 * worker: its requests wait as long as the worker works. */
#ifndef PETREL_MANAGER_WCLIENT_H
#define PETREL_MANAGER_WCLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct manager;
struct mgr_vm;

/* worker_wait.c: petreld's requests to a worker's API, waiting as long as the worker works
 * (docs/manager.md#waiting-for-a-worker): idle_ms (usually api_timeout_ms) once its own threads
 * (not the guest's vCPUs and I/O) make no progress, at most api_timeout_max_ms (or idle_ms if
 * longer); a worker gone fails at once. Returns the HTTP status (body in *out) or -errno with a
 * fault text in err. */
int worker_request(struct manager *m, struct mgr_vm *vm, const char *method, const char *path, const char *body,
		   unsigned idle_ms, char **out, char *err, size_t errlen);
/* Whether the process pid's own threads made progress since the last look (wp->ticks): 1, 0,
 * or -ESRCH when it is gone (or a zombie). The first look only sets the baseline (and says 0).
 * A jailed worker's pid is the jailer's; with child_pid_file (where the jailer names its child,
 * petrel) the child counts too, from when the file names it: its progress is the worker's, and
 * its end (or zombie) is the worker's end. gone says which of the two a -ESRCH found gone. */
struct worker_progress {
	pid_t pid;
	const char *child_pid_file;
	pid_t child, gone;
	bool looked;
	unsigned long long ticks;
};
int worker_progress_look(void *opaque);
/* Wait for a new worker's API (sock, which the worker makes) to answer GET /, as the calls
 * wait: while the worker (and the jailer's child) make progress, up to max_ms; idle_ms without;
 * at once when one is gone. 0, or -errno with a fault text in err that says which process
 * ended or hung and, from the worker's log (its standard output and error, from byte
 * log_from on), the last line it wrote. */
struct worker_start_wait {
	const char *sock;
	struct worker_progress wp;
	bool ended;   /* wp.pid is known to have ended (reaped): no wait */
	unsigned idle_ms, max_ms;
	const char *log;
	long long log_from;
};
int worker_await_api(struct worker_start_wait *w, char *err, size_t errlen);
/* A worker API call with a JSON body (or NULL) whose answer is not needed: 0, or the
 * worker's fault with its status ("worker API METHOD PATH: STATUS BODY", -EIO). */
int worker_call(struct manager *m, struct mgr_vm *vm, const char *method, const char *path, json_t *body,
		char *err, size_t errlen);
/* The same, keeping the worker's answer: 0 and *out (a JSON object, or left NULL when the
 * answer was none or not an object: a jailed worker's word), or its fault. */
int worker_call_json(struct manager *m, struct mgr_vm *vm, const char *method, const char *path, json_t *body,
		     json_t **out, char *err, size_t errlen);

#endif
