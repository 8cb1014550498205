/* A VM's guest agent as petreld sees it (docs/guest-agent.md). The worker talks to the agent
 * and reads its answers (src/agent: guest-controlled input is parsed in the jail, never here);
 * petreld relays /vms/NAME/guest/... to the worker's /guest/... and keeps what each running
 * VM's agent last said about its interfaces, asked every GUEST_WATCH_S seconds by one watcher
 * thread, for info, list and the page. A worker's answer is still a jailed process's word:
 * it is taken only as JSON of the expected shape, and its size is bounded by the client. */
#include "manager/guest.h"
#include "manager/answer.h"
#include "manager/definition.h"
#include "manager/events.h"
#include "manager/mgr.h"
#include "manager/util.h"
#include "http/client.h"
#include "util/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GUEST_WATCH_S 10         /* how often a running VM's agent is asked for its interfaces */
#define GUEST_WATCH_CALL_MS 8000 /* the worker's own wait for the agent is its timeout_ms (5 s) */
#define GUEST_CALL_MS 30000      /* a relayed call: a freeze of many file systems takes a while */
#define GUEST_ADDRS_MAX 64       /* addresses kept per VM */

/* ---- /vms/NAME/guest/SUB, relayed ---- */

static const struct {
	const char *sub, *method;
} relayed[] = {
	{ "ping", "GET" }, { "info", "GET" }, { "interfaces", "GET" }, { "fsfreeze", "PUT" },
	{ "shutdown", "PUT" }, { "time", "PUT" }, { "fstrim", "PUT" },
};

struct relay {
	char sock[sizeof(((struct mgr_vm *)0)->api_sock)];
	char name[VM_NAME_MAX + 1];
	char method[8], path[32];
	char *body;
	api_done_fn done;
	void *opaque;
};

static void *relay_run(void *arg)
{
	struct relay *x = arg;
	char *reply = NULL;
	int st = uhttp_request(x->sock, x->method, x->path, x->body, GUEST_CALL_MS, &reply);
	json_t *o = reply ? json_loads(reply, 0, NULL) : NULL;
	free(reply);
	char err[160];
	if (st < 0) {
		error_set(err, sizeof(err), st, "its worker did not answer %s %s: %s", x->method, x->path, strerror(-st));
		mgr_answer_later(x->done, x->opaque, st == -ETIMEDOUT ? 504 : 502, "", err, 0, NULL);
	} else if (!json_is_object(o) && !(st == 204 && !o)) {
		error_set(err, sizeof(err), -EPROTO, "its worker's answer to %s %s is not a JSON object", x->method, x->path);
		mgr_answer_later(x->done, x->opaque, 502, "", err, 0, NULL);
		o = NULL;
	} else {
		/* the worker's statuses mean what petreld's do (400 no agent, 502 a bad answer, 504 none) */
		mgr_answer_later(x->done, x->opaque, 0, "", NULL, st < 200 || st > 599 ? 502 : (unsigned)st,
				 o ? o : json_object());
		o = NULL;
	}
	json_decref(o);
	free(x->body);
	free(x);
	return NULL;
}

enum api_result guest_route(struct manager *m, struct mgr_vm *vm, const char *method, const char *rest,
			    const char *body, size_t len, struct api_response *r, api_done_fn done, void *opaque)
{
	(void)m;
	size_t i = 0, n = sizeof(relayed) / sizeof(relayed[0]);
	while (i < n && (!rest || strcmp(rest, relayed[i].sub)))
		i++;
	if (i == n)
		return mgr_answer_fault(r, 404, "unknown path: the guest's are ping, info, interfaces (GET), fsfreeze, "
					       "shutdown, time, fstrim (PUT)");
	if (strcmp(method, relayed[i].method)) {
		api_response_fault(r, 405, "%s", relayed[i].method);
		return API_DONE;
	}
	if (!def_guest_agent(vm->def.doc))
		return mgr_answer_fault(r, 400, "the VM has no guest agent: its definition's \"guest-agent\": "
					       "{\"enabled\": true} adds one");
	if (vm->pid <= 0 || (vm->state != VM_RUNNING && vm->state != VM_PAUSED))
		return mgr_answer_fault(r, 409, "the VM is not running");
	struct relay *x = calloc(1, sizeof(*x));
	if (!x || (len && !(x->body = strndup(body, len)))) {
		free(x);
		return mgr_answer_fault(r, 500, "out of memory");
	}
	memcpy(x->sock, vm->api_sock, sizeof(x->sock));
	snprintf(x->name, sizeof(x->name), "%s", vm->def.name);
	snprintf(x->method, sizeof(x->method), "%s", method);
	snprintf(x->path, sizeof(x->path), "/guest/%s", relayed[i].sub);
	x->done = done;
	x->opaque = opaque;
	if (mgr_detached(relay_run, x) < 0) {
		free(x->body);
		free(x);
		return mgr_answer_fault(r, 500, "cannot start a thread");
	}
	return API_PENDING;
}

/* ---- the watcher: each running VM's interfaces as its agent reports them ---- */

/* The worker's GET /guest/interfaces answer ({"interfaces": [{"name", "mac", "addresses":
 * [{"address", "prefix", "family"}]}]}) reduced to what petreld keeps: the same shape with
 * strings and numbers checked, at most GUEST_ADDRS_MAX addresses; NULL when it is not that. */
static json_t *interfaces_kept(json_t *o)
{
	json_t *ifs = json_object_get(o, "interfaces"), *out = json_array(), *it;
	size_t i, naddr = 0;
	if (!json_is_array(ifs) || !out) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(ifs, i, it) {
		const char *name = json_string_value(json_object_get(it, "name"));
		const char *mac = json_string_value(json_object_get(it, "mac"));
		json_t *addrs = json_object_get(it, "addresses"), *a, *kept = json_array();
		size_t j;
		if (!name || strlen(name) > 64 || !kept) {
			json_decref(kept);
			continue;
		}
		json_array_foreach(addrs, j, a) {
			const char *ip = json_string_value(json_object_get(a, "address"));
			json_t *prefix = json_object_get(a, "prefix");
			if (!ip || strlen(ip) > 45 || !json_is_integer(prefix) || naddr >= GUEST_ADDRS_MAX)
				continue;
			json_array_append_new(kept, json_pack("{s:s, s:I}", "address", ip, "prefix",
							      json_integer_value(prefix)));
			naddr++;
		}
		json_t *one = json_pack("{s:s, s:o}", "name", name, "addresses", kept);
		if (one && mac && strlen(mac) <= 17)
			json_object_set_new(one, "mac", json_string(mac));
		json_array_append_new(out, one);
	}
	return out;
}

struct agent_watched {
	char name[VM_NAME_MAX + 1];
	char sock[sizeof(((struct mgr_vm *)0)->api_sock)];
	pid_t pid;
};

/* The VMs to ask now (m->lock held): running, with an agent, not busy being moved. */
static size_t watch_list(struct manager *m, struct agent_watched **out)
{
	size_t n = 0, k = 0;
	for (struct mgr_vm *vm = m->vms; vm; vm = vm->next)
		n++;
	struct agent_watched *w = n ? calloc(n, sizeof(*w)) : NULL;
	for (struct mgr_vm *vm = m->vms; w && vm; vm = vm->next) {
		if (vm->pid <= 0 || vm->state != VM_RUNNING || !def_guest_agent(vm->def.doc))
			continue;
		snprintf(w[k].name, sizeof(w[k].name), "%s", vm->def.name);
		memcpy(w[k].sock, vm->api_sock, sizeof(w[k].sock));
		w[k++].pid = vm->pid;
	}
	*out = w;
	return k;
}

static void watch_one(struct manager *m, const struct agent_watched *w)
{
	char *reply = NULL;
	int st = uhttp_request(w->sock, "GET", "/guest/interfaces", NULL, GUEST_WATCH_CALL_MS, &reply);
	json_t *o = st == 200 && reply ? json_loads(reply, 0, NULL) : NULL;
	free(reply);
	json_t *ifs = interfaces_kept(o);
	json_decref(o);
	pthread_mutex_lock(&m->lock);
	struct mgr_vm *vm = mgr_vm_find(m, w->name);
	if (vm && vm->pid == w->pid && ifs && !json_equal(ifs, vm->guest_ifs)) {
		json_decref(vm->guest_ifs);
		vm->guest_ifs = json_incref(ifs);
		mgr_event_emit(m, vm->def.name, "guest addresses changed",
			       json_pack("{s:o?}", "addresses", mgr_vm_guest_addresses(vm)));
	}
	pthread_mutex_unlock(&m->lock);
	json_decref(ifs);
}

static void *watch_thread(void *arg)
{
	struct manager *m = arg;
	for (;;) {
		sleep(GUEST_WATCH_S);
		struct agent_watched *w = NULL;
		pthread_mutex_lock(&m->lock);
		bool quit = m->quitting;
		size_t n = quit ? 0 : watch_list(m, &w);
		pthread_mutex_unlock(&m->lock);
		if (quit) {
			free(w);
			return NULL;
		}
		for (size_t i = 0; i < n; i++)
			watch_one(m, &w[i]);
		free(w);
	}
}

int guest_watch_start(struct manager *m)
{
	return mgr_detached(watch_thread, m);
}
