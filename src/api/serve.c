/* The VMM's API served over HTTP. See serve.h. */
#include "api/serve.h"
#include "api/controller.h"
#include "api/router.h"

#include <pthread.h>

static enum api_result controller_handle(void *ctx, const char *method, const char *path,
					 const char *body, size_t len, struct api_response *resp,
					 api_done_fn done, void *opaque)
{
	return api_handle(ctx, method, path, body, len, resp, done, opaque);
}

int api_server_start(struct api_server **out, struct controller *ctl, const char *path,
		     size_t max_payload)
{
	/* Firecracker's default --mmds-size-limit is the API's payload limit. */
	pthread_mutex_lock(&ctl->lock);
	if (!ctl->mmds_limit)
		ctl->mmds_limit = max_payload;
	pthread_mutex_unlock(&ctl->lock);
	return api_server_start_handler(out, controller_handle, ctl, path, max_payload);
}
