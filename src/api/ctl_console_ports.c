/* petrel's virtio-console ports and the guest agent's switch (docs/guest-agent.md): PUT
 * /console-ports/{port_id} and PUT /guest-agent before the start, and the config file's
 * "console-ports" and "guest-agent" (api/vm_config.c). See controller.h. */
#include "api/core.h"
#include "config/console_ports_config.h"
#include "util/unix_socket.h"

#include <string.h>

int ctl_put_console_port(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	_cleanup_(console_port_config_free) struct console_port_config c = { 0 };
	int r = console_port_config_from_json(body, NULL, &c, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = ctl_check_path_id("port_id", c.port_id, id, err, errlen)) < 0)
		return r;
	/* the device listens there at the start: a path taken is reported now */
	if (c.socket_path && !ctl->dry_run && unix_path_free(c.socket_path) < 0)
		return error_set(err, errlen, -EINVAL, "console port '%s': socket_path %s is taken (a live socket or "
				 "another kind of file)", c.port_id, c.socket_path);
	pthread_mutex_lock(&ctl->lock);
	char msg[320];
	if ((r = ctl_check_not_started(ctl, "console ports", err, errlen)) == 0 &&
	    (r = vm_config_put_console_port(&ctl->cfg, &c, msg, sizeof(msg))) < 0)
		r = error_set(err, errlen, -EINVAL, "%s", msg);
	pthread_mutex_unlock(&ctl->lock);
	return r;
}

int ctl_put_guest_agent(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct guest_agent_config g;
	int r = guest_agent_config_from_json(body, NULL, &g, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	if ((r = ctl_check_not_started(ctl, "the guest agent", err, errlen)) == 0) {
		ctl->cfg.guest_agent = g;
		ctl->cfg.has_guest_agent = true;
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}
