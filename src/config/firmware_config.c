/* What a firmware-booted VM's definition may hold (boot-source.firmware, docs/firmware.md). */
#include "config/firmware_config.h"
#include "config/vm_config.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

/* A firmware finds devices by enumerating PCI: it cannot see a virtio-mmio device, whose only
 * description is the ACPI table the operating system reads after the firmware is done. */
static int check_transport(enum virtio_transport_kind t, enum virtio_transport_kind vm_default, const char *what,
			   const char *id, char *err, size_t errlen)
{
	if (t == VIRTIO_TRANSPORT_MMIO || (t == VIRTIO_TRANSPORT_DEFAULT && vm_default == VIRTIO_TRANSPORT_MMIO))
		return error_set(err, errlen, -EINVAL,
				 "%s%s%s: a virtio-mmio device cannot be found by a firmware "
				 "(boot-source.firmware); use transport=pci", what, id ? " " : "", id ? id : "");
	return 0;
}

const char *firmware_path(const char *name)
{
	if (strcmp(name, "seabios") == 0)
		return FIRMWARE_SEABIOS_PATH;
	return strcmp(name, "ovmf") == 0 ? FIRMWARE_OVMF_CODE_PATH : name;
}

bool firmware_names_uefi(const char *firmware, const char *vars)
{
	return firmware && (strcmp(firmware, "ovmf") == 0 || vars);
}

bool firmware_is_uefi(const struct vm_config *cfg)
{
	return firmware_names_uefi(cfg->firmware, cfg->firmware_vars);
}

int vm_config_check_firmware(const struct vm_config *cfg, char *err, size_t errlen)
{
	int r = 0;
	if (!*cfg->firmware)
		return error_set(err, errlen, -EINVAL,
				 "boot-source.firmware: empty (\"seabios\", \"ovmf\" or a firmware image's path)");
	if (cfg->firmware_vars && strcmp(cfg->firmware, "seabios") == 0)
		return error_set(err, errlen, -EINVAL, "boot-source.firmware_vars_path: SeaBIOS keeps no variables");
	if (cfg->firmware_vars && !*cfg->firmware_vars)
		return error_set(err, errlen, -EINVAL, "boot-source.firmware_vars_path: empty");
	if (cfg->kernel_path || cfg->initrd_path || cfg->cmdline)
		return error_set(err, errlen, -EINVAL,
				 "boot-source: a firmware boots from the VM's disks; kernel_image_path, initrd_path "
				 "and boot_args go with no firmware");
	enum virtio_transport_kind d = cfg->virtio_transport;
	for (unsigned i = 0; !r && i < cfg->ndrives; i++)
		r = check_transport(cfg->drives[i].transport, d, "drive", cfg->drives[i].drive_id, err, errlen);
	for (unsigned i = 0; !r && i < cfg->nnets; i++)
		r = check_transport(cfg->nets[i].transport, d, "network interface", cfg->nets[i].iface_id, err, errlen);
	for (unsigned i = 0; !r && i < cfg->npmem; i++)
		r = check_transport(cfg->pmem[i].transport, d, "pmem", cfg->pmem[i].id, err, errlen);
	for (unsigned i = 0; !r && i < cfg->nfs; i++)
		r = check_transport(cfg->fs[i].transport, d, "fs", cfg->fs[i].id, err, errlen);
	if (!r && cfg->has_vsock)
		r = check_transport(cfg->vsock.transport, d, "vsock", NULL, err, errlen);
	if (!r && cfg->has_entropy)
		r = check_transport(cfg->entropy.transport, d, "entropy", NULL, err, errlen);
	if (!r && (cfg->has_balloon || cfg->has_memory_hotplug))
		r = check_transport(VIRTIO_TRANSPORT_DEFAULT, d, cfg->has_balloon ? "balloon" : "memory-hotplug", NULL,
				    err, errlen);
	return r;
}
