/* One API request straight into a controller, for unit tests: the status, and the answer's
 * body parsed into *out (NULL without a body) when out is given. */
#ifndef PETREL_TESTS_UNIT_API_CALL_H
#define PETREL_TESTS_UNIT_API_CALL_H

#include "api/controller.h"
#include "api/router.h"

#include <jansson.h>
#include <string.h>

static inline unsigned api(struct controller *ctl, const char *method, const char *path, const char *body,
			   json_t **out)
{
	struct api_response r;
	api_handle(ctl, method, path, body, body ? strlen(body) : 0, &r, NULL, NULL);
	if (out)
		*out = r.body ? json_loads(r.body, 0, NULL) : NULL;
	unsigned st = r.status;
	api_response_free(&r);
	return st;
}

#endif
