/* PUT /boot-source: the kernel, initrd and command line, or a firmware, or from_disk (petrel's; pre-boot). See
 * controller.h. */
#include "api/core.h"
#include "boot/firmware.h"
#include "util/error.h"

#include <string.h>
#include <unistd.h>

/* A firmware is Debian's by name or a file the VMM can read, and goes with no kernel, initrd or
 * command line (refused here, 400, not only at InstanceStart); its contents are checked at the start
 * (firmware_read), where the image is read once. */
static int check_firmware(struct controller *ctl, const struct vm_config *tmp, char *err, size_t errlen)
{
	int r = vm_config_check_firmware(tmp, err, errlen);
	r = r < 0 ? r : ctl_check_file(ctl, "firmware", firmware_path(tmp->firmware), false, false, err, errlen);
	/* a vars file that exists must be a writable file; one that does not is made at the start */
	if (r == 0 && tmp->firmware_vars && access(tmp->firmware_vars, F_OK) == 0)
		r = ctl_check_file(ctl, "firmware vars file", tmp->firmware_vars, true, false, err, errlen);
	return r;
}

int ctl_put_boot_source(struct controller *ctl, json_t *body, char *err, size_t errlen)
{
	struct vm_config tmp;
	int r = ctl_parse_section("boot-source", body, &tmp, err, errlen);
	if (r < 0)
		return r;
	if ((tmp.kernel_path && (r = ctl_check_file(ctl, "kernel image", tmp.kernel_path, false, false, err, errlen)) < 0) ||
	    (tmp.firmware && (r = check_firmware(ctl, &tmp, err, errlen)) < 0) ||
	    (tmp.initrd_path && (r = ctl_check_file(ctl, "initrd", tmp.initrd_path, false, false, err, errlen)) < 0)) {
		vm_config_free(&tmp);
		return r;
	}
	pthread_mutex_lock(&ctl->lock);
	r = ctl_check_not_started(ctl, "the boot source", err, errlen);
	if (r == 0) {
		/* PUT replaces the whole boot source: what the body leaves out is cleared. */
		ctl_take(&ctl->cfg.kernel_path, &tmp.kernel_path);
		ctl_take(&ctl->cfg.firmware, &tmp.firmware);
		ctl_take(&ctl->cfg.firmware_vars, &tmp.firmware_vars);
		ctl_take(&ctl->cfg.initrd_path, &tmp.initrd_path);
		ctl_take(&ctl->cfg.cmdline, &tmp.cmdline);
		ctl->cfg.from_disk = tmp.from_disk;
	}
	pthread_mutex_unlock(&ctl->lock);
	vm_config_free(&tmp);
	return r;
}
