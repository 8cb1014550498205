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

#endif
