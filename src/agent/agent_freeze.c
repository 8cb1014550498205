/* Freezing the guest's file systems through its agent, and the thaw that always follows
 * (agent.h). A freeze that was asked counts as holding until a thaw answers, even when the
 * freeze failed or timed out (the guest may have frozen after all, and qemu-guest-agent keeps
 * a frozen guest frozen until it is told): the frozen run thaws on every path after its freeze,
 * and the client thaws what is still pending when it is freed (the worker's stop). */
#include "agent/agent_int.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void set_pending(struct guest_agent *a, bool v)
{
	__atomic_store_n(&a->freeze_pending, v, __ATOMIC_RELAXED);
}

bool guest_agent_freeze_pending(struct guest_agent *a)
{
	return __atomic_load_n(&a->freeze_pending, __ATOMIC_RELAXED);
}

static int count_call(struct guest_agent *a, const char *cmd, unsigned *nfs, char *err, size_t errlen)
{
	json_t *r;
	unsigned n = 0;
	int e = guest_agent_call(a, cmd, NULL, &r, err, errlen);
	if (e == 0)
		e = agent_read_count(r, cmd, &n, err, errlen);
	json_decref(r);
	if (nfs)
		*nfs = n;
	return e;
}

int guest_agent_freeze(struct guest_agent *a, unsigned *nfs, char *err, size_t errlen)
{
	if (a->port_open && !a->port_open(a->port_opaque))
		return count_call(a, "guest-fsfreeze-freeze", nfs, err, errlen); /* -ENOTCONN: nothing sent */
	set_pending(a, true);
	return count_call(a, "guest-fsfreeze-freeze", nfs, err, errlen);
}

int guest_agent_thaw(struct guest_agent *a, unsigned *nfs, char *err, size_t errlen)
{
	int e = count_call(a, "guest-fsfreeze-thaw", nfs, err, errlen);
	if (e == 0)
		set_pending(a, false);
	return e;
}

int guest_agent_freeze_status(struct guest_agent *a, bool *frozen, char *err, size_t errlen)
{
	json_t *r;
	int e = guest_agent_call(a, "guest-fsfreeze-status", NULL, &r, err, errlen);
	if (e == 0)
		e = agent_read_freeze_status(r, frozen, err, errlen);
	json_decref(r);
	if (e == 0 && !*frozen)
		set_pending(a, false);
	return e;
}

int guest_agent_thaw_if_frozen(struct guest_agent *a, bool *was_frozen, unsigned *nfs, char *err, size_t errlen)
{
	*nfs = 0;
	int e = guest_agent_freeze_status(a, was_frozen, err, errlen);
	if (e == 0 && *was_frozen)
		e = guest_agent_thaw(a, nfs, err, errlen);
	return e;
}

int guest_agent_thaw_pending(struct guest_agent *a, char *err, size_t errlen)
{
	if (!guest_agent_freeze_pending(a))
		return 0;
	unsigned n;
	int e = guest_agent_thaw(a, &n, err, errlen);
	if (e == 0)
		log_info("guest agent: thawed %u file system(s) a freeze left frozen", n);
	return e;
}

int guest_agent_frozen_run(struct guest_agent *a, bool require, int (*fn)(void *opaque, char *err, size_t errlen),
			   void *opaque, struct guest_freeze_report *rep, char *err, size_t errlen)
{
	*rep = (struct guest_freeze_report){ 0 };
	uint64_t t0 = now_ms();
	char why[256];
	int e = guest_agent_freeze(a, &rep->nfs, why, sizeof(why));
	rep->frozen = e == 0;
	bool asked = e != -ENOTCONN;
	if (e < 0 && require) {
		error_set(err, errlen, e, "freezing the guest's file systems: %s", why);
	} else {
		if (e < 0)
			log_warn("guest agent: freeze failed, going on without it: %s", why);
		else
			log_info("guest agent: %u file system(s) frozen", rep->nfs);
		e = fn(opaque, err, errlen);
	}
	if (asked) {
		unsigned n;
		rep->thaw_err = guest_agent_thaw(a, &n, rep->thaw_msg, sizeof(rep->thaw_msg));
		if (rep->thaw_err < 0 && !rep->frozen) {
			/* nothing was frozen as far as we know: the thaw's failure is the freeze's */
			log_warn("guest agent: thaw after a failed freeze: %s", rep->thaw_msg);
			rep->thaw_err = 0;
		}
	}
	rep->frozen_ms = rep->frozen ? now_ms() - t0 : 0;
	if (rep->frozen)
		log_info("guest agent: file systems frozen for %llu ms%s%s", (unsigned long long)rep->frozen_ms,
			 rep->thaw_err ? "; the thaw failed: " : "", rep->thaw_err ? rep->thaw_msg : "");
	if (e == 0 && rep->thaw_err < 0)
		e = error_set(err, errlen, rep->thaw_err, "thawing the guest's file systems: %s", rep->thaw_msg);
	return e;
}
