/* A VM that boots the kernel on its disk (boot-source.from_disk, docs/images.md): the boot
 * drive's image read through its virtio-blk device's own struct disk (so a qcow2 overlay's
 * writes the guest made are seen, and nothing but the VMM opens the image), at the start and
 * at every reset (vm_boot_load). */
#include "vm/vm_internal.h"
#include "devices/virtio/blk/blk.h"
#include "diskboot/diskboot.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

int vm_diskboot_read(struct vm *vm, struct diskboot *db, const char **drive_id)
{
	const struct vm_config *cfg = vm->cfg;
	int idx = vm_config_boot_drive(cfg);
	struct virtio_blk *b = idx >= 0 ? vm_blk(vm, (unsigned)idx) : NULL;
	if (!b) {
		log_error("boot-source.from_disk: the VM has no drive to boot from");
		return -EINVAL;
	}
	*drive_id = cfg->drives[idx].drive_id;
	struct dsrc src = { diskboot_disk_read, &b->disk, 0, disk_size(&b->disk) };
	char why[1024];
	int err = diskboot_find(&src, vm->mem.total, db, why, sizeof(why));
	if (err < 0)
		log_error("boot from disk: drive %s: %s", *drive_id, why);
	return err;
}
