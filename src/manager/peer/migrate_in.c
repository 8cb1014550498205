/* The target's side of a migration between hosts (peer.h, migrate.c):
 *   POST /migrations/incoming {"definition", "timeout_s", "networks"}: the definition is checked
 *     as POST /vms checks it, a VM of that name must not exist here, the networks it is on must
 *     be here, the same (their digests) and active (409); a jailed worker is started
 *     waiting for the VM on a tls: port (PUT /migration/receive): 200 {"name", "port"}.
 *   DELETE /migrations/incoming/NAME: the source gave up before the VM arrived: the worker is
 *     ended (409 once the VM runs here).
 * Until the VM runs here it is "incoming": listed as starting, busy, with no definition file
 * (a UEFI VM's variables file is made at once: the receiving worker maps it).
 * A thread follows the worker: when the VM runs, its definition is written here and the event
 * "migrated" sent; when the receive fails (or the worker ends, or is told to), the worker is
 * ended and the VM forgotten: nothing half-defined stays. */
#include "manager/answer.h"
#include "manager/definitions.h"
#include "manager/events.h"
#include "manager/jail_fill.h"
#include "manager/job.h"
#include "manager/mgr.h"
#include "manager/net/net_reserve.h"
#include "manager/peer/peer.h"
#include "manager/runstate.h"
#include "manager/uefi_vars.h"
#include "http/client.h"
#include "manager/util.h"
#include "manager/worker.h"
#include "http/server.h"
#include "util/error.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 50

/* The job of an arriving VM, until it runs here: the API sees it busy, "incoming". */
static const struct mgr_job incoming = { .name = "incoming" };

struct incoming {
	struct manager *m;
	struct mgr_vm *vm;
	unsigned timeout_s;
	bool vars_made;            /* its UEFI variables file was made for it here (uefi_vars.h) */
	char from[300];            /* who sent it: the certificate's subject, or the address */
	api_done_fn done;
	void *opaque;
};

/* The worker's migration state: "active", "completed", "failed" (why), or NULL. */
static const char *receive_state(struct manager *m, struct mgr_vm *vm, char *why, size_t whylen)
{
	static __thread char state[16];
	char *out = NULL;
	int code = uhttp_request(vm->api_sock, "GET", "/migration", NULL, m->api_timeout_ms, &out);
	json_t *st = code == 200 && out ? json_loads(out, 0, NULL) : NULL;
	free(out);
	const char *s = json_string_value(json_object_get(st, "state"));
	const char *reason = json_string_value(json_object_get(st, "reason"));
	snprintf(why, whylen, "%s", reason ? reason : "");
	snprintf(state, sizeof(state), "%s", s ? s : "");
	json_decref(st);
	return s ? state : NULL;
}

/* The VM runs here now: its definition is written, it is an ordinary VM from now on. */
static void arrived(struct incoming *in)
{
	struct manager *m = in->m;
	struct mgr_vm *vm = in->vm;
	char err[512];
	pthread_mutex_lock(&m->lock);
	int e = save_definition(m, &vm->def, err, sizeof(err));
	vm->incoming = false;
	vm->job = NULL;
	vm->state = VM_RUNNING;
	vm->started_at = time(NULL);
	runstate_save(m, vm);
	if (e < 0)
		mgr_vm_log(m, vm->def.name, "arrived, but its definition could not be written: %s", err);
	mgr_event_emit(m, vm->def.name, "migrated", json_pack("{s:s, s:s}", "role", "target", "from", in->from));
	mgr_vm_log(m, vm->def.name, "migrated here from %s", in->from);
	pthread_mutex_unlock(&m->lock);
}

static void dropped(struct incoming *in, const char *why)
{
	struct manager *m = in->m;
	struct mgr_vm *vm = in->vm;
	worker_kill(m, vm);   /* waits for the supervisor to see it end and clean its jail up */
	pthread_mutex_lock(&m->lock);
	if (in->vars_made)   /* nothing of it stays */
		uefi_vars_remove(m, vm->def.name);
	mgr_event_emit(m, vm->def.name, "incoming migration failed", json_pack("{s:s, s:s}", "from", in->from, "reason", why));
	fprintf(stderr, "petreld: incoming migration of %s from %s failed: %s\n", vm->def.name, in->from, why);
	peer_forget_vm(m, vm);
	pthread_mutex_unlock(&m->lock);
	peer_free_vm_later(vm);
}

/* The receiving worker's PUT /migration/receive: receive (data) and the certificates, in its
 * jail (the machine comes with the migration). */
static int receive_action(struct manager *m, struct mgr_vm *vm, json_t *fc, void *data, json_t **body, char *err,
			  size_t errlen)
{
	char tls_dir[PATH_MAX];
	int e = jail_tls_dir(m, vm, tls_dir, sizeof(tls_dir), err, errlen);
	if (e < 0)
		return e;
	*body = json_deep_copy(data);
	json_object_set_new(*body, "tls_dir", json_string(tls_dir));
	return 0;
}

static void *incoming_main(void *arg)
{
	struct incoming *in = arg;
	struct manager *m = in->m;
	struct mgr_vm *vm = in->vm;
	char err[512] = "";
	struct api_response r = { 0 };
	int port = peer_free_port();
	int e = port < 0 ? error_set(err, sizeof(err), port, "no free port for the receiver") : 0;
	if (!e) {
		char url[32];
		snprintf(url, sizeof(url), "tls::%d", port);
		json_t *receive = json_pack("{s:s, s:i}", "receiver_url", url, "timeout_s", (int)in->timeout_s);
		const struct worker_start how = { .mode = WORKER_INCOMING, .action = receive_action, .data = receive };
		e = worker_start(m, vm, &how, err, sizeof(err));
		json_decref(receive);
	}
	if (e < 0) {
		api_response_fault(&r, mgr_status_of(e) == 400 ? 400 : 502, "cannot prepare the receiver: %s", err);
		pthread_mutex_lock(&m->lock);
		peer_forget_vm(m, vm);   /* worker_start ended the worker it started */
		if (in->vars_made)
			uefi_vars_remove(m, vm->def.name);
		pthread_mutex_unlock(&m->lock);
		in->done(in->opaque, &r);
		peer_free_vm_later(vm);
		free(in);
		return NULL;
	}
	r.status = 200;
	r.body = json_dumps(json_pack("{s:s, s:i}", "name", vm->def.name, "port", port), JSON_COMPACT);
	in->done(in->opaque, &r);
	for (;;) {
		usleep(POLL_MS * 1000);
		pthread_mutex_lock(&m->lock);
		bool gone = vm->pid == 0, told = vm->stopping;
		pthread_mutex_unlock(&m->lock);
		if (gone || told) {
			dropped(in, told ? "the source gave up" : "the receiving worker ended");
			break;
		}
		const char *state = receive_state(m, vm, err, sizeof(err));
		if (state && !strcmp(state, "completed")) {
			arrived(in);
			break;
		}
		if (state && !strcmp(state, "failed")) {
			dropped(in, err);
			break;
		}
	}
	free(in);
	return NULL;
}

static enum api_result prepare(struct manager *m, const char *body, size_t len, const struct api_principal *who,
			       struct api_response *r, api_done_fn done, void *opaque)
{
	char err[512];
	struct incoming *in = calloc(1, sizeof(*in));
	struct mgr_vm *vm = calloc(1, sizeof(*vm));
	if (!in || !vm) {
		free(in);
		free(vm);
		return mgr_answer_fault(r, 500, "out of memory");
	}
	json_t *nets, *leases;
	int e = peer_incoming_parse(body, len, &vm->def, &in->timeout_s, &nets, &leases, err, sizeof(err));
	if (e < 0) {
		free(in);
		free(vm);
		return mgr_answer_fault(r, 400, err);
	}
	pthread_mutex_lock(&m->lock);
	bool vars_made = false;
	if (mgr_vm_find(m, vm->def.name))
		e = error_set(err, sizeof(err), -EEXIST, "a VM named '%s' is defined here already", vm->def.name);
	/* Its networks, here as on the source and active, before anything is sent (net_reserve.h);
	 * the worker gets its taps as any worker (net_taps.h). */
	if (!e)
		e = net_vm_check_arrival(m, &vm->def, nets, err, sizeof(err));
	json_decref(nets);
	vm->arriving_leases = leases;   /* its guards allow them until they expire (net_taps.h) */
	/* A UEFI VM's variables file is made here from the template; the migration stream's flash
	 * section fills it. */
	if (!e)
		e = mgr_def_files_ready(m, &vm->def, &vars_made, err, sizeof(err));
	if (e < 0) {
		pthread_mutex_unlock(&m->lock);
		def_free(&vm->def);
		json_decref(vm->arriving_leases);
		free(vm);
		free(in);
		return mgr_answer_fault(r, e == -EEXIST || e == -EBUSY ? 409 : 400, err);
	}
	vm->pidfd = -1;
	vm->last_exit = -1;
	vm->incoming = true;
	vm->job = &incoming;
	vm->state = VM_STARTING;
	vm->next = m->vms;
	m->vms = vm;
	*in = (struct incoming){ .m = m, .vm = vm, .timeout_s = in->timeout_s, .vars_made = vars_made, .done = done,
				 .opaque = opaque };
	snprintf(in->from, sizeof(in->from), "%s", who->kind == API_PRINCIPAL_TLS_CERT ? who->subject
						 : who->kind == API_PRINCIPAL_UNIX ? "this host" : who->remote);
	pthread_mutex_unlock(&m->lock);
	if (mgr_detached(incoming_main, in) < 0) {
		pthread_mutex_lock(&m->lock);
		peer_forget_vm(m, vm);
		if (vars_made)
			uefi_vars_remove(m, vm->def.name);
		pthread_mutex_unlock(&m->lock);
		mgr_vm_free(vm);   /* never had a worker */
		free(in);
		return mgr_answer_fault(r, 500, "cannot start a thread");
	}
	return API_PENDING;
}

/* DELETE /migrations/incoming/NAME */
static enum api_result abandon(struct manager *m, const char *name, struct api_response *r)
{
	char why[256];
	pthread_mutex_lock(&m->lock);
	struct mgr_vm *vm = mgr_vm_find(m, name);
	enum api_result res;
	if (!vm || !vm->incoming) {
		res = mgr_answer_fault(r, 404, "no migration of that name is arriving");
	} else if (vm->pid == 0) {
		res = mgr_answer_fault(r, 409, "its receiver is not ready yet: try again");
	} else {
		pthread_mutex_unlock(&m->lock);
		const char *state = receive_state(m, vm, why, sizeof(why));
		pthread_mutex_lock(&m->lock);
		if (state && !strcmp(state, "completed")) {
			res = mgr_answer_fault(r, 409, "the VM runs here already");
		} else {
			vm->stopping = true;   /* the follower ends the worker and forgets the VM */
			r->status = 204;
			res = API_DONE;
		}
	}
	pthread_mutex_unlock(&m->lock);
	return res;
}

enum api_result peer_incoming_route(struct manager *m, const char *method, const char *path, const char *body,
				    size_t len, const struct api_principal *who, struct api_response *r,
				    api_done_fn done, void *opaque)
{
	if (!strcmp(path, "/migrations/incoming")) {
		if (strcmp(method, "POST"))
			return mgr_answer_fault(r, 405, "POST");
		return prepare(m, body, len, who, r, done, opaque);
	}
	const char *name = path + strlen("/migrations/incoming/");
	if (!mgr_vm_name_ok(name))
		return mgr_answer_fault(r, 404, "no such migration: a name is 1 to 64 of [A-Za-z0-9-]");
	if (strcmp(method, "DELETE"))
		return mgr_answer_fault(r, 405, "DELETE");
	return abandon(m, name, r);
}
