/* PUT /display: petrel's screen, keyboard and pointer (pre-boot; docs/display.md). See
 * controller.h. */
#include "api/core.h"
#include "config/display_config.h"

int ctl_put_display(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	_cleanup_(display_config_free) struct display_config d = { 0 };
	int r = display_config_from_json(body, NULL, &d, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the display", err, errlen);
	if (r == 0) {
		display_config_free(&ctl->cfg.display);
		ctl->cfg.display = TAKE_STRUCT(d);
		ctl->cfg.has_display = true;
	}
	pthread_mutex_unlock(&ctl->lock);
	return r;
}
