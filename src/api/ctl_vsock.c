/* PUT /vsock: the virtio-vsock device (pre-boot). See controller.h. */
#include "api/core.h"
#include "util/unix_socket.h"

#include <string.h>

int ctl_put_vsock(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vsock_config v;
	int r = vsock_config_from_json(body, NULL, &v, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	/* The device will listen there: never over a live socket (another petrel's API socket,
	 * say) or another kind of file; a stale socket is replaced at start. */
	if (!ctl->dry_run && unix_path_free(v.uds_path) == -EADDRINUSE) {
		r = error_set(err, errlen, -EINVAL,
			      "vsock uds_path '%s' is in use by another process or is not a socket",
			      v.uds_path);
		vsock_config_free(&v);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the vsock device", err, errlen);
	if (r == 0) {
		vsock_config_free(&ctl->cfg.vsock);
		ctl->cfg.vsock = v;
		ctl->cfg.has_vsock = true;
		memset(&v, 0, sizeof(v));
	}
	pthread_mutex_unlock(&ctl->lock);
	vsock_config_free(&v);
	return r;
}
