/* The list of the VM's saved states (vm_state.h), and the one state the VM itself owns: PVM's
 * syscall shim (section PVM). */
#include "vm/vm_state.h"
#include "vm/vm_firmware.h"
#include "vm/vm_internal.h"

#include <stdio.h>

/* ---- PVM's syscall shim (docs/snapshots.md, section PVM) ---- */

static void pvm_save_state(void *dev, struct enc *e)
{
	struct pvm_syscall *ps = &((struct vm *)dev)->pvm_syscall;
	pthread_mutex_lock(&ps->lock);
	put_u64(e, ps->lstar);
	put_u64(e, ps->shim);
	put_u64(e, ps->shim_gpa);
	put_u64(e, ps->orig_pf);
	put_bool(e, ps->installed);
	pthread_mutex_unlock(&ps->lock);
}

static int pvm_load_state(void *dev, struct dec *d, uint32_t version, char *err, size_t errlen)
{
	(void)version;
	struct vm *vm = dev;
	uint64_t lstar = get_u64(d), shim = get_u64(d), shim_gpa = get_u64(d), orig_pf = get_u64(d);
	bool installed = get_bool(d);
	int e = dec_end(d, "PVM syscall shim (PVM)", err, errlen);
	if (e < 0)
		return e;
	struct pvm_syscall *ps = &vm->pvm_syscall;
	pthread_mutex_lock(&ps->lock);
	ps->lstar = lstar;
	ps->shim = shim;
	ps->shim_gpa = shim_gpa;
	ps->orig_pf = orig_pf;
	/* the shim must lie in guest RAM, or it is installed again at the next LSTAR write */
	ps->installed = installed && guest_mem_ptr(&vm->mem, shim_gpa, PVM_SHIM_SIZE);
	pthread_mutex_unlock(&ps->lock);
	return 0;
}

static void pvm_absent(void *dev)
{
	(void)dev; /* taken without the PVM workarounds: nothing to restore */
}

static const struct dev_state_ops pvm_state_ops = {
	.id = STATE_ID('P', 'V', 'M', ' '), .version = 1,
	.save = pvm_save_state, .load = pvm_load_state, .absent = pvm_absent,
};

unsigned vm_state_units(struct vm *vm, struct vm_state_unit *u)
{
	struct vm_devices *vd = &vm->devs;
	unsigned n = 0;
#define UNIT(o, d, i, s) (u[n++] = (struct vm_state_unit){ .ops = (o), .dev = (d), .instance = (i), .saved = (s) })
	UNIT(&serial_state_ops, &vm->serial, 0, true);
	UNIT(&i8042_state_ops, &vm->i8042, 0, true);
	UNIT(&rtc_state_ops, &vm->rtc, 0, true);
	UNIT(&acpi_pm_state_ops, &vm->pm, 0, true);
	UNIT(&pci_bus_state_ops, &vd->pci, 0, true);
	UNIT(&ged_state_ops, &vd->ged, 0, vd->ged.present);
	UNIT(&vmgenid_state_ops, &vd->genid, 0, vd->genid.present);
	UNIT(&pvm_state_ops, vm, 0, vm->pvm);
	n += vm_firmware_state_units(vm, &u[n]); /* the chipset and fw_cfg of a firmware-booted VM */
	/* the devices in the list: each virtio device's own section, then its transport's
	 * (instance: its index among the virtio devices); then the others (E1000 cards) */
	unsigned nv = 0, nother = 0;
	for (unsigned i = 0; i < vd->ndev; i++) {
		const struct vm_device *d = &vd->dev[i];
		if (!d->vdev)
			continue;
		if (d->state)
			UNIT(d->state, d->vdev, nv, true);
		if (d->tr && d->tr->mmio)
			UNIT(&virtio_mmio_state_ops, &d->tr->u.mmio, nv, true);
		else if (d->tr)
			UNIT(&virtio_pci_state_ops, &d->tr->u.pci, nv, true);
		nv++;
	}
	for (unsigned i = 0; i < vd->ndev; i++) {
		const struct vm_device *d = &vd->dev[i];
		if (!d->vdev && d->state)
			UNIT(d->state, d->dev, nother++, true);
	}
#undef UNIT
	return n;
}

int vm_state_saveable(const struct vm *vm, const char *what, char *err, size_t errlen)
{
	struct virtio_fs *f = vm_device_of((struct vm *)vm, DEV_FS, 0);
	return f ? virtio_fs_state_blocker(f, what, err, errlen) : 0;
}
