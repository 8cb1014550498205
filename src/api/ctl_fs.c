/* petrel's virtio-fs requests (docs/virtio-fs.md): PUT /fs/{id} before the start, and the "fs"
 * section of a config file (one PUT per element, api/vm_config.c). See controller.h. */
#include "api/core.h"
#include "config/fs_config.h"

#include <string.h>

int ctl_put_fs(struct controller *ctl, const char *id, json_t *body, char *err, size_t errlen)
{
	struct fs_config c;
	int r = fs_config_from_json(body, NULL, &c, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if ((r = ctl_check_path_id("id", c.id, id, err, errlen)) < 0) {
		fs_config_free(&c);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "virtio-fs devices", err, errlen);
	pthread_mutex_unlock(&ctl->lock);
	/* the back end must be listening by now: a mistake is reported here, not at InstanceStart */
	if (r == 0 && !ctl->dry_run && fs_check_socket(&c, err, errlen) < 0)
		r = -EINVAL;
	if (r < 0) {
		fs_config_free(&c);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	char msg[320];
	if ((r = ctl_check_not_started(ctl, "virtio-fs devices", err, errlen)) == 0 &&
	    (r = vm_config_put_fs(&ctl->cfg, &c, msg, sizeof(msg))) < 0)
		r = error_set(err, errlen, -EINVAL, "%s", msg);
	pthread_mutex_unlock(&ctl->lock);
	fs_config_free(&c);
	return r;
}
