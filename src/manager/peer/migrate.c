/* POST /vms/NAME/migrate: live-migrate a running VM to another host's petreld
 * (docs/manager.md#migration-between-hosts). A job (jobs.c): on its own thread, the VM busy:
 *   1. the target's petreld, over TLS with this host's certificate, is given the definition
 *      and the digests of the networks the VM is on (POST /migrations/incoming): it refuses a
 *      network it lacks or defines otherwise, else starts a jailed worker waiting on a tls:
 *      port (with the VM's taps, as any worker);
 *   2. our worker sends the VM there (PUT /migration/send, tls:HOST:PORT, our certificates in
 *      its jail), and is followed (GET /migration) until it completes or fails;
 *   3. done: the worker has exited (its taps removed as at any worker's end), the definition
 *      leaves this host (the VM lives there now:
 *      a definition left here could start a second copy), event "migrated".
 * A failure at any step leaves the VM running here, and the target is told to drop what it
 * prepared (DELETE /migrations/incoming/NAME; it also drops it by itself when its receiver
 * fails). */
#include "manager/defs.h"
#include "manager/events.h"
#include "manager/jail_fill.h"
#include "manager/job.h"
#include "manager/mgr.h"
#include "manager/net/net_reserve.h"
#include "manager/peer/peer.h"
#include "manager/uefi_vars.h"
#include "http/client.h"
#include "manager/util.h"
#include "manager/wclient.h"
#include "manager/worker.h"
#include "http/server.h"
#include "util/error.h"
#include "util/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PEER_CALL_MS 30000
#define POLL_MS 50

/* The worker's GET /migration: "active", "completed", "failed" (reason in why), or NULL when
 * it does not answer (it may have exited). */
static const char *worker_migration(struct manager *m, struct mgr_vm *vm, char *why, size_t whylen, json_t **st)
{
	char *out = NULL;
	int code = uhttp_request(vm->api_sock, "GET", "/migration", NULL, m->api_timeout_ms, &out);
	*st = code == 200 && out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	const char *state = json_string_value(json_object_get(*st, "state"));
	const char *reason = json_string_value(json_object_get(*st, "reason"));
	snprintf(why, whylen, "%s", reason ? reason : "");
	return state;
}

/* Follow our worker's migration to its end: 0 (the VM runs on the target and our worker has
 * exited) or -errno with err. *figures: the status that said completed (or its event). */
static int follow(struct manager *m, struct mgr_vm *vm, const struct peer_migrate_req *req, int events,
		  off_t events_from, json_t **figures, char *err, size_t errlen)
{
	uint64_t deadline = now_ms() + (uint64_t)req->timeout_s * 1000 + 30000;
	for (;;) {
		pthread_mutex_lock(&m->lock);
		pid_t pid = vm->pid;
		int status = vm->last_exit;
		pthread_mutex_unlock(&m->lock);
		if (pid == 0) {
			/* A source exits with status 0 once the target runs the guest: often before
			 * a poll saw "completed", so the figures come from its events. */
			if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
				json_decref(*figures);
				*figures = peer_events_figures(events, events_from);
				return 0;
			}
			return error_set(err, errlen, -EIO, "the worker ended during the migration (status %d)", status);
		}
		if (now_ms() > deadline)
			return error_set(err, errlen, -ETIMEDOUT, "the migration did not end in %u s", req->timeout_s);
		{
			char why[512];
			json_t *st;
			const char *state = worker_migration(m, vm, why, sizeof(why), &st);
			if (state && !strcmp(state, "failed")) {
				json_decref(st);
				return error_set(err, errlen, -EIO, "the migration failed: %s", why);
			}
			if (state && !strcmp(state, "completed")) {
				/* The target runs the guest: from here on this is a success whatever
				 * our worker does. It exits right after; one that does not is ended. */
				json_decref(*figures);
				*figures = st;
				if (!worker_wait_end(m, vm, 10000))
					worker_kill(m, vm);
				return 0;
			}
			json_decref(st);
		}
		usleep(POLL_MS * 1000);
	}
}

int peer_migrate_run(struct manager *m, struct mgr_vm *vm, const struct peer_migrate_req *req, json_t **figures,
		     char *err, size_t errlen)
{
	const char *host = req->host;
	unsigned port = req->port;
	/* 1. the target prepares its receiver */
	pthread_mutex_lock(&m->lock);
	/* petreld's own variables file is this host's: the target makes its own */
	json_t *doc = json_deep_copy(vm->def.doc);
	uefi_vars_for_peer(m, vm->def.name, doc);
	json_t *body = json_pack("{s:o, s:i, s:o*, s:o*}", "definition", doc, "timeout_s", 60, "networks",
				 net_vm_digests(m, &vm->def),   /* the target compares its own */
				 "leases", net_vm_leases(m, &vm->def));   /* its guards there allow them */
	pthread_mutex_unlock(&m->lock);
	json_t *reply;
	int st = peer_call(m, host, port, "POST", "/migrations/incoming", body, PEER_CALL_MS, &reply, err, errlen);
	json_decref(body);
	json_int_t rport = json_integer_value(json_object_get(reply, "port"));
	json_decref(reply);
	if (st < 0)
		return st;
	if (st != 200)
		return st == 409 ? -EEXIST : st < 500 ? -EINVAL : -EIO;
	if (rport < 1 || rport > 65535)
		return error_set(err, errlen, -EIO, "the target gave no receiver port");
	/* 2. our worker sends it */
	char tls_dir[PATH_MAX], url[300];
	int e = jail_tls_dir(m, vm, tls_dir, sizeof(tls_dir), err, errlen);
	snprintf(url, sizeof(url), strchr(host, ':') ? "tls:[%s]:%d" : "tls:%s:%d", host, (int)rport);
	json_t *send = json_pack("{s:s, s:s, s:i, s:i}", "destination_url", url, "tls_dir", tls_dir, "downtime_ms",
				 (int)req->downtime_ms, "timeout_s", (int)req->timeout_s);
	pthread_mutex_lock(&m->lock);
	vm->stopping = true;   /* its exit, once the target runs the guest, is no crash */
	pthread_mutex_unlock(&m->lock);
	char events_path[PATH_MAX];
	off_t events_from = 0;
	worker_events_path(m, vm, events_path, sizeof(events_path));
	int events = peer_events_open(events_path, &events_from);
	if (!e)
		e = worker_call(m, vm, "PUT", "/migration/send", send, err, errlen);
	json_decref(send);
	if (!e)
		e = follow(m, vm, req, events, events_from, figures, err, errlen);
	if (events >= 0)
		close(events);
	if (e < 0) {
		pthread_mutex_lock(&m->lock);
		vm->stopping = false;
		pthread_mutex_unlock(&m->lock);
		char path[VM_NAME_MAX + 32], why[256];
		snprintf(path, sizeof(path), "/migrations/incoming/%s", vm->def.name);
		peer_call(m, host, port, "DELETE", path, NULL, PEER_CALL_MS, &reply, why, sizeof(why));
		json_decref(reply);
	}
	return e;
}

bool peer_migrate_finish(const struct mgr_job *j, int e, const char *err, struct api_response *r)
{
	struct manager *m = j->m;
	struct mgr_vm *vm = j->vm;
	const struct peer_migrate_req *req = &j->arg.migrate;
	json_t *figures = j->result;
	char to[300];
	snprintf(to, sizeof(to), strchr(req->host, ':') ? "[%s]:%u" : "%s:%u", req->host, req->port);
	if (e < 0) {
		api_response_fault(r, e == -EEXIST ? 409 : e == -EINVAL ? 400 : e == -ETIMEDOUT ? 504 : 502,
				   "migrate to %s: %s (the VM keeps running here)", to, err);
		mgr_event_emit(m, vm->def.name, "migration failed", json_pack("{s:s, s:s}", "to", to, "reason", err));
		return false;
	}
	json_t *o = json_pack("{s:s, s:s, s:O?, s:O?}", "name", vm->def.name, "migrated_to", to, "downtime_ms",
			      json_object_get(figures, "downtime_ms"), "total_ms", json_object_get(figures, "total_ms"));
	char why[256];
	if (defs_remove(m->defs_dir, vm->def.name, why, sizeof(why)) < 0)
		json_object_set_new(o, "warning", json_string(why));
	uefi_vars_remove(m, vm->def.name);
	mgr_event_emit(m, vm->def.name, "migrated", json_pack("{s:s, s:s, s:O?}", "role", "source", "to", to,
							 "downtime_ms", json_object_get(figures, "downtime_ms")));
	mgr_vm_log(m, vm->def.name, "migrated to %s", to);
	peer_forget_vm(m, vm);
	r->status = 200;
	r->body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return true;
}
