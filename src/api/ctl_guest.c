/* petrel's /guest/... endpoints (docs/guest-agent.md, docs/api.md): the guest's QEMU agent asked
 * through the worker's client (src/agent). The bodies are checked here, on the API's thread;
 * the request itself runs on the controller's worker (it may wait for the agent's timeout, and
 * the API goes on answering meanwhile). Answers: 200 with what the agent said (checked by the
 * agent's typed readers), 204 for the verbs, 400 when the VM has no agent (or is not running,
 * or the guest has not opened the port), 504 when the agent does not answer in time, 502 for a
 * bad answer or the agent's own error, each with the reason. */
#include "api/core.h"
#include "agent/agent.h"
#include "util/json_util.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct guest_request {
	enum guest_op op;
	const char *arg;          /* fsfreeze's action, shutdown's mode (static strings) */
	json_t *answer;           /* what a GET (or fsfreeze) answers, set on the worker */
};

void ctl_guest_request_free(struct guest_request *q)
{
	if (!q)
		return;
	json_decref(q->answer);
	free(q);
}

json_t *ctl_guest_take_answer(struct guest_request *q)
{
	return TAKE_PTR(q->answer);
}

unsigned ctl_guest_http_status(int r)
{
	switch (r) {
	case -ETIMEDOUT:
		return 504;
	case -EPROTO:
	case -EREMOTEIO:
	case -EPIPE:
		return 502;
	case -ENOMEM:
		return 500;
	default:
		return 400;
	}
}

/* A body of one string field whose value is one of values. */
static int one_of(json_t *body, const char *key, const char *const *values, const char **out, char *err,
		  size_t errlen)
{
	const char *const keys[] = { key, NULL };
	int r = json_check_keys(body, "", keys, err, errlen);
	if (r < 0)
		return r;
	const char *s = json_string_value(json_object_get(body, key));
	for (const char *const *v = values; s && *v; v++)
		if (!strcmp(s, *v) && strlen(s) == json_string_length(json_object_get(body, key))) {
			*out = *v;
			return 0;
		}
	return error_set(err, errlen, -EINVAL, "%s: expected one of %s, %s%s%s", key, values[0], values[1],
			 values[2] ? ", " : "", values[2] ? values[2] : "");
}

int ctl_guest_parse(json_t *body, enum guest_op op, struct guest_request **out, char *err, size_t errlen)
{
	static const char *const actions[] = { "freeze", "thaw", "status", NULL };
	static const char *const modes[] = { "powerdown", "reboot", "halt", NULL };
	static const char *const none[] = { NULL };
	*out = NULL;
	struct guest_request q = { .op = op };
	int r = 0;
	if (op == GUEST_FSFREEZE)
		r = one_of(body, "action", actions, &q.arg, err, errlen);
	else if (op == GUEST_SHUTDOWN)
		r = body ? one_of(body, "mode", modes, &q.arg, err, errlen) : (q.arg = "powerdown", 0);
	else if (body && json_is_object(body))
		r = json_check_keys(body, "", none, err, errlen);
	if (r < 0)
		return r;
	if (!(*out = malloc(sizeof(q))))
		return error_oom(err, errlen);
	**out = q;
	return 0;
}

/* The VM's agent, when the VM runs and has one: 0, else 400's reason. */
static int running_agent(struct controller *ctl, struct guest_agent **a, char *err, size_t errlen)
{
	pthread_mutex_lock(&ctl->lock);
	int r = 0;
	if (!started(ctl))
		r = error_set(err, errlen, -EINVAL, "%s", CTL_NOT_BEFORE_START);
	else if (!ctl->agent)
		r = error_set(err, errlen, -ENODEV, "this VM has no guest agent (its definition's "
			      "\"guest-agent\": {\"enabled\": true} adds the port)");
	else if (ctl->state != INSTANCE_RUNNING)
		r = error_set(err, errlen, -EINVAL, "the microVM is paused: its guest agent cannot answer");
	*a = ctl->agent;
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

static int fsfreeze(struct guest_agent *a, struct guest_request *q, char *err, size_t errlen)
{
	unsigned n = 0;
	bool frozen = false;
	int r;
	if (!strcmp(q->arg, "status")) {
		if ((r = guest_agent_freeze_status(a, &frozen, err, errlen)) == 0)
			q->answer = json_pack("{s:s}", "status", frozen ? "frozen" : "thawed");
		return r;
	}
	r = !strcmp(q->arg, "freeze") ? guest_agent_freeze(a, &n, err, errlen) : guest_agent_thaw(a, &n, err, errlen);
	if (r == 0) {
		log_info("guest agent: %s: %u file system(s)", q->arg, n);
		q->answer = json_pack("{s:s, s:i}", "status", !strcmp(q->arg, "freeze") ? "frozen" : "thawed",
				      "filesystems", (int)n);
	}
	return r;
}

int ctl_guest_run(struct controller *ctl, struct guest_request *q, char *err, size_t errlen)
{
	struct guest_agent *a;
	int r = running_agent(ctl, &a, err, errlen);
	if (r < 0)
		return r;
	struct timespec ts;
	switch (q->op) {
	case GUEST_PING:
		if ((r = guest_agent_ping(a, err, errlen)) == 0)
			q->answer = json_pack("{s:b}", "ok", true);
		return r;
	case GUEST_INFO:
		return guest_agent_info(a, &q->answer, err, errlen);
	case GUEST_INTERFACES:
		r = guest_agent_interfaces(a, &q->answer, err, errlen);
		if (r == 0)
			q->answer = json_pack("{s:o}", "interfaces", q->answer);
		return r;
	case GUEST_FSFREEZE:
		return fsfreeze(a, q, err, errlen);
	case GUEST_SHUTDOWN:
		if ((r = guest_agent_shutdown(a, q->arg, err, errlen)) == 0)
			log_info("guest agent: asked the guest to %s", q->arg);
		return r;
	case GUEST_TIME:
		clock_gettime(CLOCK_REALTIME, &ts);
		return guest_agent_set_time(a, (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec, err, errlen);
	case GUEST_FSTRIM:
		return guest_agent_fstrim(a, &q->answer, err, errlen);
	}
	return error_set(err, errlen, -EINVAL, "unknown guest request");
}

void ctl_guest_free(struct controller *ctl)
{
	guest_agent_free(ctl->agent);   /* thaws a freeze left pending */
	ctl->agent = NULL;
}
