/* An API answer of petreld's (routes.c and the verbs that answer a request themselves). */
#ifndef PETREL_MANAGER_ANSWER_H
#define PETREL_MANAGER_ANSWER_H

#include "http/response.h"

#include <jansson.h>

/* status with o (taken) as its body; 500 when o is NULL or cannot be written. */
static inline enum api_result mgr_answer_json(struct api_response *r, unsigned status, json_t *o)
{
	r->status = status;
	r->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (!r->body)
		api_response_fault(r, 500, "out of memory");
	return API_DONE;
}

/* {"fault_message": msg} with status. */
static inline enum api_result mgr_answer_fault(struct api_response *r, unsigned status, const char *msg)
{
	api_response_fault(r, status, "%s", msg);
	return API_DONE;
}

/* A request answered later, from a thread of its own: through done, with status and out (taken)
 * as its body, or, when fault_status is not 0, {"fault_message": "PREFIXerr"}. */
static inline void mgr_answer_later(api_done_fn done, void *opaque, unsigned fault_status, const char *prefix,
				    const char *err, unsigned status, json_t *out)
{
	struct api_response r = { 0 };
	if (fault_status) {
		json_decref(out);
		api_response_fault(&r, fault_status, "%s%s", prefix, err);
	} else {
		mgr_answer_json(&r, status, out);
	}
	done(opaque, &r);
}

#endif
