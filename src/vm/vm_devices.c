/* Build the PCI bus and the devices of a VM from its configuration: one attach path for every
 * kind (the rows of vm_device_kinds.c), and the list of attached devices (vm/vm_device.h). */
#include "vm/vm_devices.h"
#include "devices/display/display_dev.h"
#include "devices/virtio/net/net_mmds.h"
#include "arch/x86/layout.h"
#include "net/announce.h"
#include "util/log.h"
#include "vm/device_params.h"
#include "vm/vm_firmware.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The interfaces "mmds-config" lists answer the metadata service: the controller's (so its
 * PUT /mmds reaches the guest) or, without one (petrel run), an empty one of the VM's own. */
int vm_devices_attach_mmds(struct vm *vm)
{
	const struct mmds_config *mc = &vm->cfg->mmds;
	struct vm_devices *vd = &vm->devs;
	if (!mc->configured)
		return 0;
	vd->mmds = vm->cfg->mmds_service ? mmds_ref(vm->cfg->mmds_service) : mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	if (!vd->mmds)
		return -ENOMEM;
	mmds_configure(vd->mmds, mc->version == 2 ? MMDS_V2 : MMDS_V1, mc->imds_compat);
	/* the E1000 cards first, then the virtio-net interfaces */
	static const enum dev_kind kinds[] = { DEV_E1000, DEV_NET };
	for (unsigned k = 0; k < 2; k++) {
		for (unsigned i = 0; i < vd->ndev; i++) {
			const struct vm_device *d = &vd->dev[i];
			if (d->kind != kinds[k] || !mmds_config_has_iface(mc, d->id))
				continue;
			int err = d->kind == DEV_NET ? net_mmds_enable(d->dev, vd->mmds, mc->ipv4)
						     : e1000_mmds_enable(d->dev, vd->mmds, mc->ipv4);
			if (err < 0) {
				log_error("network interface '%s': cannot set up MMDS: %s", d->id, strerror(-err));
				return err;
			}
		}
	}
	return 0;
}

static enum virtio_transport_kind resolve(const struct vm *vm, enum virtio_transport_kind k)
{
	if (k != VIRTIO_TRANSPORT_DEFAULT)
		return k;
	return vm->cfg->virtio_transport == VIRTIO_TRANSPORT_MMIO ? VIRTIO_TRANSPORT_MMIO : VIRTIO_TRANSPORT_PCI;
}

/* Put a virtio device on its transport (PCI, or an MMIO slot): the next of vd->tr. */
static int add_transport(struct vm *vm, struct virtio_dev *vdev, enum virtio_transport_kind kind)
{
	struct vm_devices *vd = &vm->devs;
	if (vd->ntr == VM_MAX_VIRTIO) {
		log_error("more than %d virtio devices", VM_MAX_VIRTIO);
		return -ENOSPC;
	}
	struct vm_transport *v = &vd->tr[vd->ntr];
	memset(v, 0, sizeof(*v));
	int err;
	if (resolve(vm, kind) == VIRTIO_TRANSPORT_MMIO) {
		if (vd->nmmio == LAYOUT_VIRTIO_MMIO_MAX || vd->nmmio == ACPI_MAX_VIRTIO_MMIO) {
			log_error("%s: more than %d virtio-mmio devices", vdev->name, LAYOUT_VIRTIO_MMIO_MAX);
			return -ENOSPC;
		}
		uint64_t base = LAYOUT_VIRTIO_MMIO + vd->nmmio * LAYOUT_VIRTIO_MMIO_STRIDE;
		uint32_t gsi = LAYOUT_VIRTIO_MMIO_GSI + vd->nmmio % 4;
		v->mmio = true;
		err = virtio_mmio_create(&v->u.mmio, vdev, &vm->mmio, base, gsi, &vd->pci, &vm->kvm);
		if (err < 0) {
			log_error("%s: cannot map virtio-mmio registers at 0x%llx: %s", vdev->name,
				  (unsigned long long)base, strerror(-err));
			virtio_mmio_destroy(&v->u.mmio);
			return err;
		}
		vd->acpi.mmio[vd->nmmio].base = base;
		vd->acpi.mmio[vd->nmmio].size = VIRTIO_MMIO_SIZE;
		vd->acpi.mmio[vd->nmmio].gsi = gsi;
		vd->acpi.nmmio = ++vd->nmmio;
		size_t used = strlen(vd->cmdline_extra);
		snprintf(vd->cmdline_extra + used, sizeof(vd->cmdline_extra) - used,
			 " virtio_mmio.device=%u@0x%llx:%u", VIRTIO_MMIO_SIZE, (unsigned long long)base, gsi);
		log_info("%s: virtio-mmio at 0x%llx, GSI %u", vdev->name, (unsigned long long)base, gsi);
	} else {
		err = virtio_pci_create(&v->u.pci, vdev, &vd->pci, &vm->kvm, &vd->routes);
		if (err < 0) {
			log_error("%s: cannot add the PCI function: %s", vdev->name, strerror(-err));
			virtio_pci_destroy(&v->u.pci);
			return err;
		}
		log_info("%s: virtio-pci at 00:%02x.0, BAR0 0x%llx", vdev->name, v->u.pci.pci.slot,
			 (unsigned long long)v->u.pci.pci.bar_mapped[0]);
	}
	vd->ntr++;
	return 0;
}

struct vm_device *vm_devices_put(struct vm *vm, enum dev_kind kind, const char *id, void *dev,
				 struct virtio_dev *vdev)
{
	struct vm_devices *vd = &vm->devs;
	if (vd->ndev == VM_MAX_DEVICES)
		return NULL;
	const struct vm_device_kind *k = &vm_device_kinds[kind];
	struct vm_device *d = &vd->dev[vd->ndev++];
	*d = (struct vm_device){ .kind = kind, .id = id, .dev = dev, .vdev = vdev,
				 .state = vdev ? vdev->ops->state : k->state, .stats = k->stats };
	return d;
}

/* Make the i-th device of a kind (its row in vm_device_kinds.c), put a virtio device on its
 * transport, and list it; on failure nothing of it is left. */
static int attach(struct vm *vm, enum dev_kind row, unsigned i)
{
	enum dev_kind kind = vm_device_kinds[row].which ? vm_device_kinds[row].which(vm->cfg, i) : row;
	const struct vm_device_kind *k = &vm_device_kinds[kind];
	struct vm_device d = { 0 };
	enum virtio_transport_kind tr = VIRTIO_TRANSPORT_DEFAULT;
	void *dev = calloc(1, k->size);
	if (!dev)
		return -ENOMEM;
	int err = k->make(vm, i, dev, &d, &tr);
	if (err < 0) {
		free(dev);
		return err;
	}
	if (d.vdev && (err = add_transport(vm, d.vdev, tr)) < 0) {
		virtio_dev_destroy(d.vdev);
		free(dev);
		return err;
	}
	/* the list has room: VM_MAX_VIRTIO transports, and one E1000 at most per interface */
	struct vm_device *at = vm_devices_put(vm, kind, d.id, dev, d.vdev);
	if (d.vdev)
		at->tr = &vm->devs.tr[vm->devs.ntr - 1];
	return 0;
}

/* The GED and the VM generation ID device (its ID is written at boot, vm_create), each
 * unless --no-vmgenid; the GED also for vCPU hot-plug (vm/vcpu_hotplug.c), which it announces. */
static int create_vmgenid(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	ged_init(&vd->ged, (struct irq_line){ &vm->kvm, LAYOUT_GED_GSI }, GED_PORT);
	int err = bus_register(&vm->pio, GED_PORT, GED_LEN, "acpi-ged", ged_read, ged_write, &vd->ged);
	if (err < 0) {
		log_error("cannot register the ACPI event device: %s", strerror(-err));
		return err;
	}
	if (!vm->cfg->no_vmgenid) {
		/* 0xE0000-0xFFFFF is a firmware's: there, a reserved page at the end of low RAM */
		uint64_t gpa = vm->cfg->firmware ? vm_firmware_vmgenid_gpa(vm) : LAYOUT_VMGENID;
		vmgenid_init(&vd->genid, &vm->mem, &vd->ged, gpa);
		vd->acpi.vmgenid = true;
		vd->acpi.vmgenid_gpa = gpa;
	}
	vd->acpi.ged = true;
	vd->acpi.ged_port = GED_PORT;
	vd->acpi.ged_gsi = LAYOUT_GED_GSI;
	return vcpu_hotplug_create(vm);
}

int vm_devices_create(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	const struct vm_config *cfg = vm->cfg;
	int err;

	if ((err = io_thread_init(&vd->io)) < 0) {
		log_error("cannot create the I/O thread's epoll set: %s", strerror(-err));
		return err;
	}
	vd->io_ready = true;
	err = kvm_routes_init(&vd->routes, &vm->kvm);
	vd->routes_ready = true; /* initialised even when the table was refused: destroy it */
	if (err < 0)
		return err;
	/* with a firmware: its PCI hole and the I/O ports above 0xC000, BARs left to it */
	struct pci_windows w = { LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE, PCI_IO_BASE, PCI_IO_SIZE, false };
	if (cfg->firmware)
		w = (struct pci_windows){ vm_firmware_pci_base(vm), vm_firmware_pci_size(vm), PCI_IO_BASE,
					  0x10000 - PCI_IO_BASE, true };
	err = pci_bus_init_windows(&vd->pci, &vm->kvm, &vm->pio, &vm->mmio, &w);
	if (err < 0) {
		log_error("cannot create the PCI bus: %s", strerror(-err));
		return err;
	}
	vd->pci_ready = true;
	vd->acpi.pci = true;
	vd->acpi.pci_mmio_base = w.mmio_base;
	vd->acpi.pci_mmio_size = w.mmio_size;
	vd->acpi.pci_intx_gsi_base = PCI_INTX_GSI_BASE;
	/* the firmware's machine: its chipset before any other PCI function, the PM timer the
	 * firmware times itself with in the FADT too */
	vd->acpi.pm_timer = cfg->firmware != NULL;
	if (cfg->firmware && (err = vm_firmware_chipset(vm)) < 0)
		return err;
	if ((!cfg->no_vmgenid || cfg->has_vcpu_hotplug) && (err = create_vmgenid(vm)) < 0)
		return err;

	/* every kind in its order, each device on its transport (vm_device_kinds.c) */
	for (unsigned k = 0; k < DEV_KINDS; k++) {
		const struct vm_device_kind *row = &vm_device_kinds[k];
		unsigned n = row->count ? row->count(cfg) : 0;
		for (unsigned i = 0; i < n; i++)
			if ((err = attach(vm, (enum dev_kind)k, i)) < 0)
				return err;
		if (row->after && (err = row->after(vm)) < 0)
			return err;
	}
	return 0;
}

int vm_devices_start(struct vm *vm)
{
	if (!vm_is_paused(vm))
		vmgenid_resumed(&vm->devs.genid);
	if (!vm->devs.io_ready)
		return 0;
	return io_thread_start(&vm->devs.io, "fc_io");
}

int vm_devices_pause(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	if (!vd->io_ready)
		return 0;
	int err = io_thread_pause(&vd->io);
	if (err < 0)
		return err;
	for (unsigned i = 0; i < vd->ndev; i++)
		if (vd->dev[i].vdev)
			virtio_quiesce(vd->dev[i].vdev);
	for (unsigned i = 0; i < vd->ndev; i++)
		if (!vd->dev[i].vdev)
			vm_device_kinds[vd->dev[i].kind].quiesce(vd->dev[i].dev);
	return 0;
}

void vm_devices_resume(struct vm *vm)
{
	vmgenid_resumed(&vm->devs.genid);
	if (vm->devs.io_ready)
		io_thread_resume(&vm->devs.io);
	for (unsigned i = 0; i < vm->devs.ndev; i++)
		if (!vm->devs.dev[i].vdev)
			vm_device_kinds[vm->devs.dev[i].kind].resume(vm->devs.dev[i].dev);
}

void vm_devices_reset(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	for (unsigned i = 0; i < vd->ndev; i++) {
		struct vm_device *d = &vd->dev[i];
		if (d->tr && d->tr->mmio)
			virtio_mmio_reset(&d->tr->u.mmio);
		else if (d->tr)
			virtio_pci_reset(&d->tr->u.pci);
		else if (d->vdev) {
			pthread_mutex_lock(&d->vdev->lock);
			virtio_reset(d->vdev);
			pthread_mutex_unlock(&d->vdev->lock);
		}
		if (vm_device_kinds[d->kind].reset)
			vm_device_kinds[d->kind].reset(d->dev);
	}
	if (vd->pci_ready)
		pci_bus_reset(&vd->pci);
	serial_reset(&vm->serial);
	i8042_reset(&vm->i8042);
	rtc_reset(&vm->rtc);
	acpi_pm_reset(&vm->pm);
	if (vd->ged.present)
		ged_reset(&vd->ged);
	if (vd->genid.present)
		vmgenid_reset(&vd->genid);
	if (vd->vcpuhp.on)
		cpu_hotplug_reset(&vd->vcpuhp.dev);
}

void vm_devices_destroy(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	if (vd->io_ready)
		io_thread_stop(&vd->io);
	/* the virtio devices last attached first, each after its transport; then the others */
	for (unsigned i = vd->ndev; i-- > 0;) {
		struct vm_device *d = &vd->dev[i];
		if (!d->vdev)
			continue;
		if (d->tr && d->tr->mmio)
			virtio_mmio_destroy(&d->tr->u.mmio);
		else if (d->tr)
			virtio_pci_destroy(&d->tr->u.pci);
		virtio_dev_destroy(d->vdev);
		free(d->dev);
	}
	for (unsigned i = 0; i < vd->ndev; i++) {
		struct vm_device *d = &vd->dev[i];
		if (!d->vdev) {
			vm_device_kinds[d->kind].destroy(d->dev);
			free(d->dev);
		}
	}
	vd->ndev = vd->ntr = vd->nmmio = 0;
	display_free(vd->display);
	vd->display = NULL;
	mmds_unref(vd->mmds);
	vd->mmds = NULL;
	if (vd->pci_ready)
		pci_bus_destroy(&vd->pci);
	vd->pci_ready = false;
	if (vd->routes_ready)
		kvm_routes_destroy(&vd->routes);
	vd->routes_ready = false;
	if (vd->io_ready)
		io_thread_destroy(&vd->io);
	vd->io_ready = false;
}

/* The guest's MAC addresses now live behind this host's taps: say so (a RARP each, as QEMU's
 * announce-self; switches learn the new port). round 0 at once, rounds 1 and 2 50 and 100 ms
 * after the one before: the caller does them once the VM is reported running (a migration's
 * destination, a standby that took over, a source that runs its guest again after a failed
 * switch). In round 0 a guest whose driver took VIRTIO_NET_F_GUEST_ANNOUNCE is also asked to
 * announce itself: its gratuitous ARPs and neighbour advertisements cover its IP addresses
 * and VLANs too. */
void vm_devices_announce(struct vm *vm, int round)
{
	if (round)
		usleep(round * 50000);
	struct virtio_net *n;
	for (unsigned i = 0; (n = vm_device_of(vm, DEV_NET, i)); i++) {
		if (!round && virtio_net_request_announce(n))
			log_debug("%s: the guest was asked to announce itself", n->vdev.name);
		if (n->is_tap && n->st.has_mac && tap_announce(n->tap.fd, n->st.mac) < 0 && !round)
			log_warn("cannot announce %s on %s", n->vdev.name, n->tap.ifname);
	}
	struct e1000 *e;
	for (unsigned i = 0; (e = vm_device_of(vm, DEV_E1000, i)); i++) {
		if (e->is_tap && tap_announce(e->tap.fd, e->mac) < 0 && !round)
			log_warn("cannot announce %s on %s", e->name, e->tap.ifname);
	}
}

void vm_set_output_gate(struct vm *vm, struct outgate *g)
{
	__atomic_store_n(&vm->serial.gate, g, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < vm->devs.ndev; i++) {
		struct vm_device *d = &vm->devs.dev[i];
		if (d->kind == DEV_NET)
			__atomic_store_n(&((struct virtio_net *)d->dev)->gate, g, __ATOMIC_RELEASE);
		else if (d->kind == DEV_VSOCK)
			virtio_vsock_gate(d->dev, g != NULL);
	}
	struct e1000 *e;
	for (unsigned i = 0; (e = vm_device_of(vm, DEV_E1000, i)); i++)
		__atomic_store_n(&e->gate, g, __ATOMIC_RELEASE);
}

void *vm_device_of(struct vm *vm, enum dev_kind kind, unsigned i)
{
	for (unsigned k = 0; k < vm->devs.ndev; k++)
		if (vm->devs.dev[k].kind == kind && i-- == 0)
			return vm->devs.dev[k].dev;
	return NULL;
}

const struct vm_device *vm_device_at(struct vm *vm, unsigned i)
{
	return i < vm->devs.ndev ? &vm->devs.dev[i] : NULL;
}

const struct dev_stats_ops *vm_device_kind_stats(enum dev_kind kind)
{
	return kind < DEV_KINDS ? vm_device_kinds[kind].stats : NULL;
}

struct outgate *vm_output_gate(struct vm *vm)
{
	return __atomic_load_n(&vm->serial.gate, __ATOMIC_ACQUIRE);
}
