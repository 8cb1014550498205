/* GET /vms/NAME/migration: where the VM stands in a live migration between hosts (migrate.c,
 * migrate_in.c), for the web page's details and for programs:
 *   {"state": "none" | "outgoing" | "incoming",
 *    "worker": its worker's GET /migration while one is under way (iteration, bytes sent and
 *              remaining, bandwidth, expected downtime, ...), absent if it does not answer,
 *    "last":   the VM's latest migration event from its log ("migrated", "migration failed",
 *              "incoming migration failed", with their time, peer and reason), absent if none}
 * The worker is asked and the log read on a thread of their own, outside petreld's lock: a
 * worker that hangs holds up this answer only. */
#include "manager/events.h"
#include "manager/job.h"
#include "manager/mgr.h"
#include "manager/peer/peer.h"
#include "http/client.h"
#include "manager/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct status_job {
	struct manager *m;
	char name[VM_NAME_MAX + 1];
	char api_sock[sizeof(((struct mgr_vm *)0)->api_sock)];
	const char *state;
	api_done_fn done;
	void *opaque;
};

static bool migration_event(const char *ev)
{
	return ev && (!strcmp(ev, "migrated") || !strcmp(ev, "migration failed") ||
		      !strcmp(ev, "incoming migration failed"));
}

static void *status_main(void *arg)
{
	struct status_job *j = arg;
	json_t *o = json_pack("{s:s}", "state", j->state);
	if (o && strcmp(j->state, "none")) {
		char *out = NULL;
		int code = uhttp_request(j->api_sock, "GET", "/migration", NULL, j->m->api_timeout_ms, &out);
		json_t *w = code == 200 && out ? json_loads(out, 0, NULL) : NULL;
		free(out);
		if (json_is_object(w))
			json_object_set(o, "worker", w);
		json_decref(w);
	}
	json_t *log = events_read_log(j->m, j->name);
	for (size_t i = json_array_size(log); o && i-- > 0;) {
		json_t *ev = json_array_get(log, i);
		if (migration_event(json_string_value(json_object_get(ev, "event")))) {
			json_object_set(o, "last", ev);
			break;
		}
	}
	json_decref(log);
	struct api_response r = { 0 };
	r.body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (r.body)
		r.status = 200;
	else
		api_response_fault(&r, 500, "out of memory");
	j->done(j->opaque, &r);
	free(j);
	return NULL;
}

enum api_result migration_status_route(struct manager *m, struct mgr_vm *vm, const char *method,
				       struct api_response *r, api_done_fn done, void *opaque)
{
	if (strcmp(method, "GET")) {
		api_response_fault(r, 405, "GET");
		return API_DONE;
	}
	struct status_job *j = calloc(1, sizeof(*j));
	if (!j) {
		api_response_fault(r, 500, "out of memory");
		return API_DONE;
	}
	j->m = m;
	snprintf(j->name, sizeof(j->name), "%s", vm->def.name);
	snprintf(j->api_sock, sizeof(j->api_sock), "%s", vm->api_sock);
	j->state = vm->incoming ? "incoming" : vm->job && vm->job->verb == MGR_VERB_MIGRATE ? "outgoing" : "none";
	j->done = done;
	j->opaque = opaque;
	if (mgr_detached(status_main, j) < 0) {
		free(j);
		api_response_fault(r, 500, "cannot start a thread");
		return API_DONE;
	}
	return API_PENDING;
}
