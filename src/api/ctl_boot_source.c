/* PUT /boot-source: the kernel, initrd and command line (pre-boot). See controller.h. */
#include "api/core.h"

#include <string.h>

int ctl_put_boot_source(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r = ctl_parse_section("boot-source", body, &tmp, err, errlen);
	if (r < 0)
		return r;
	if ((r = ctl_check_file(ctl, "kernel image", tmp.kernel_path, false, false, err, errlen)) < 0 ||
	    (tmp.initrd_path && (r = ctl_check_file(ctl, "initrd", tmp.initrd_path, false, false, err, errlen)) < 0)) {
		vm_config_free(&tmp);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the boot source", err, errlen);
	if (r == 0) {
		/* PUT replaces the whole boot source: what the body leaves out is cleared. */
		ctl_take(&ctl->cfg.kernel_path, &tmp.kernel_path);
		ctl_take(&ctl->cfg.initrd_path, &tmp.initrd_path);
		ctl_take(&ctl->cfg.cmdline, &tmp.cmdline);
	}
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}
