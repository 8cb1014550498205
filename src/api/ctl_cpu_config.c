/* PUT /cpu-config: the custom CPU template (pre-boot). See controller.h. */
#include "api/core.h"

#include <string.h>

int ctl_put_cpu_config(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r = ctl_parse_section("cpu-config", body, &tmp, err, errlen);
	if (r < 0)
		return r;
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the CPU configuration", err, errlen);
	if (r == 0)
		ctl_take(&ctl->cfg.cpu_config_json, &tmp.cpu_config_json);
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}
