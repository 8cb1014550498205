/* PUT /entropy: the virtio-rng device (pre-boot). See controller.h. */
#include "api/core.h"

#include <string.h>

int ctl_put_entropy(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct entropy_config e;
	int r = entropy_config_from_json(body, NULL, &e, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the entropy device", err, errlen);
	if (r == 0) {
		entropy_config_free(&ctl->cfg.entropy);
		ctl->cfg.entropy = e;
		ctl->cfg.has_entropy = true;
		memset(&e, 0, sizeof(e));
	}
	pthread_mutex_unlock(&ctl->lock);
	entropy_config_free(&e);
	return r;
}
