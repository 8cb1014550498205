/* Build the PCI bus and the virtio devices of a VM from its configuration. */
#include "vm/vm_devices.h"
#include "devices/virtio/net/net_mmds.h"
#include "arch/x86/layout.h"
#include "net/announce.h"
#include "util/log.h"
#include "vm/device_params.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The interfaces "mmds-config" lists answer the metadata service: the controller's (so its
 * PUT /mmds reaches the guest) or, without one (petrel run), an empty one of the VM's own. */
static int attach_mmds(struct vm *vm)
{
	const struct mmds_config *mc = &vm->cfg->mmds;
	struct vm_devices *vd = &vm->devs;
	if (!mc->configured)
		return 0;
	vd->mmds = vm->cfg->mmds_service ? mmds_ref(vm->cfg->mmds_service) : mmds_new(MMDS_STORE_DEFAULT_LIMIT);
	if (!vd->mmds)
		return -ENOMEM;
	mmds_configure(vd->mmds, mc->version == 2 ? MMDS_V2 : MMDS_V1, mc->imds_compat);
	for (unsigned i = 0; i < vd->ne1000; i++) {
		if (!mmds_config_has_iface(mc, vd->e1000[i]->iface_id))
			continue;
		int err = e1000_mmds_enable(vd->e1000[i], vd->mmds, mc->ipv4);
		if (err < 0) {
			log_error("network interface '%s': cannot set up MMDS: %s", vd->e1000[i]->iface_id, strerror(-err));
			return err;
		}
	}
	for (unsigned i = 0; i < vd->nnet; i++) {
		if (!mmds_config_has_iface(mc, vd->net[i]->iface_id))
			continue;
		int err = net_mmds_enable(vd->net[i], vd->mmds, mc->ipv4);
		if (err < 0) {
			log_error("network interface '%s': cannot set up MMDS: %s", vd->net[i]->iface_id, strerror(-err));
			return err;
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

int vm_devices_add_virtio(struct vm *vm, struct virtio_dev *vdev, void *dev, enum virtio_transport_kind kind)
{
	struct vm_devices *vd = &vm->devs;
	if (vd->nvirtio == VM_MAX_VIRTIO) {
		log_error("more than %d virtio devices", VM_MAX_VIRTIO);
		return -ENOSPC;
	}
	struct vm_virtio *v = &vd->virtio[vd->nvirtio];
	memset(v, 0, sizeof(*v));
	v->vdev = vdev;
	v->dev = dev;
	int err;
	if (resolve(vm, kind) == VIRTIO_TRANSPORT_MMIO) {
		if (vd->nmmio == LAYOUT_VIRTIO_MMIO_MAX || vd->nmmio == ACPI_MAX_VIRTIO_MMIO) {
			log_error("%s: more than %d virtio-mmio devices", vdev->name, LAYOUT_VIRTIO_MMIO_MAX);
			return -ENOSPC;
		}
		uint64_t base = LAYOUT_VIRTIO_MMIO + vd->nmmio * LAYOUT_VIRTIO_MMIO_STRIDE;
		uint32_t gsi = LAYOUT_VIRTIO_MMIO_GSI + vd->nmmio % 4;
		v->mmio = true;
		err = virtio_mmio_create(&v->tr.mmio, vdev, &vm->mmio, base, gsi, &vd->pci, &vm->kvm);
		if (err < 0) {
			log_error("%s: cannot map virtio-mmio registers at 0x%llx: %s", vdev->name,
				  (unsigned long long)base, strerror(-err));
			virtio_mmio_destroy(&v->tr.mmio);
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
		err = virtio_pci_create(&v->tr.pci, vdev, &vd->pci, &vm->kvm, &vd->routes);
		if (err < 0) {
			log_error("%s: cannot add the PCI function: %s", vdev->name, strerror(-err));
			virtio_pci_destroy(&v->tr.pci);
			return err;
		}
		log_info("%s: virtio-pci at 00:%02x.0, BAR0 0x%llx", vdev->name, v->tr.pci.pci.slot,
			 (unsigned long long)v->tr.pci.pci.bar_mapped[0]);
	}
	vd->nvirtio++;
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
		vmgenid_init(&vd->genid, &vm->mem, &vd->ged, LAYOUT_VMGENID);
		vd->acpi.vmgenid = true;
		vd->acpi.vmgenid_gpa = LAYOUT_VMGENID;
	}
	vd->acpi.ged = true;
	vd->acpi.ged_port = GED_PORT;
	vd->acpi.ged_gsi = LAYOUT_GED_GSI;
	return vcpu_hotplug_create(vm);
}

/* virtio-pmem devices (docs/pmem.md), in configuration order: the guest names them /dev/pmem0,
 * 1, ... in that order, and their device memory follows the same order in vm->devmem. */
static int create_pmem(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	for (unsigned i = 0; i < vm->cfg->npmem; i++) {
		const struct pmem_config *c = &vm->cfg->pmem[i];
		struct virtio_pmem *p = calloc(1, sizeof(*p));
		char msg[512];
		if (!p)
			return -ENOMEM;
		int err = virtio_pmem_create(p, vm_pmem_params(c, &(struct virtio_pmem_params){ 0 }), i, &vm->mem, &vd->io, msg, sizeof(msg));
		if (err < 0) {
			free(p);
			log_error("%s", msg);
			return err;
		}
		if ((err = virtio_pmem_plug(p, &vm->devmem, &vm->kvm, msg, sizeof(msg))) < 0)
			log_error("%s", msg);
		if (err < 0 || (err = vm_devices_add_virtio(vm, &p->vdev, p, c->transport)) < 0) {
			virtio_dev_destroy(&p->vdev);
			free(p);
			return err;
		}
		vd->pmem[vd->npmem++] = p;
	}
	return 0;
}

/* virtio-fs devices (docs/virtio-fs.md): each connects to its back end now, so a VM whose back
 * end is not listening does not start. */
static int create_fs(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	for (unsigned i = 0; i < vm->cfg->nfs; i++) {
		const struct fs_config *c = &vm->cfg->fs[i];
		struct virtio_fs *f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		struct virtio_fs_params p = { c->id, c->socket, c->tag, c->num_request_queues, (uint16_t)c->queue_size };
		char msg[512];
		int err = virtio_fs_create(f, &p, &vm->mem, &vd->io, msg, sizeof(msg));
		if (err < 0) {
			free(f);
			log_error("%s", msg);
			return err;
		}
		if ((err = vm_devices_add_virtio(vm, &f->vdev, f, c->transport)) < 0) {
			virtio_dev_destroy(&f->vdev);
			free(f);
			return err;
		}
		vd->fs[vd->nfs++] = f;
	}
	return 0;
}

/* virtio-mem over the hot-pluggable region vm.c mapped after RAM. */
static int create_vmem(struct vm *vm)
{
	const struct hotplug_memory_config *c = &vm->cfg->memory_hotplug;
	const struct guest_region *g = NULL;
	for (unsigned i = 0; i < vm->mem.nregions; i++)
		if (vm->mem.regions[i].hotplug)
			g = &vm->mem.regions[i];
	struct virtio_mem *m = calloc(1, sizeof(*m));
	if (!g || !m) {
		free(m);
		return g ? -ENOMEM : -ENOENT;
	}
	struct virtio_mem_params p = { g->gpa, g->size, (uint64_t)c->block_size_mib << 20,
				       (uint64_t)c->slot_size_mib << 20 };
	int err = virtio_mem_create(m, &p, &vm->mem, &vm->devs.io);
	if (err < 0) {
		free(m);
		log_error("cannot create the virtio-mem device: %s", strerror(-err));
		return err;
	}
	if ((err = vm_devices_add_virtio(vm, &m->vdev, m, VIRTIO_TRANSPORT_DEFAULT)) < 0) {
		virtio_dev_destroy(&m->vdev);
		free(m);
		return err;
	}
	vm->devs.vmem = m;
	return 0;
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
	err = pci_bus_init(&vd->pci, &vm->kvm, &vm->pio, &vm->mmio, LAYOUT_PCI_MMIO, LAYOUT_PCI_MMIO_SIZE);
	if (err < 0) {
		log_error("cannot create the PCI bus: %s", strerror(-err));
		return err;
	}
	vd->pci_ready = true;
	vd->acpi.pci = true;
	vd->acpi.pci_mmio_base = LAYOUT_PCI_MMIO;
	vd->acpi.pci_mmio_size = LAYOUT_PCI_MMIO_SIZE;
	vd->acpi.pci_intx_gsi_base = PCI_INTX_GSI_BASE;
	if ((!cfg->no_vmgenid || cfg->has_vcpu_hotplug) && (err = create_vmgenid(vm)) < 0)
		return err;

	for (unsigned i = 0; i < cfg->ndrives; i++) {
		struct virtio_blk *b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		struct virtio_blk_params bp;
		err = virtio_blk_create(b, vm_blk_params(&cfg->drives[i], &bp), i, &vm->mem, &vd->io);
		if (err < 0) {
			free(b);
			log_error("drive '%s': cannot create the virtio-blk device", cfg->drives[i].drive_id);
			return err;
		}
		if ((err = vm_devices_add_virtio(vm, &b->vdev, b, cfg->drives[i].transport)) < 0) {
			virtio_dev_destroy(&b->vdev);
			free(b);
			return err;
		}
		vd->blk[vd->nblk++] = b;
	}
	if (cfg->has_entropy) {
		struct virtio_rng *r = calloc(1, sizeof(*r));
		if (!r)
			return -ENOMEM;
		if ((err = virtio_rng_create(r, 0, &cfg->entropy.rate_limiter, &vm->mem, &vd->io)) < 0 ||
		    (err = vm_devices_add_virtio(vm, &r->vdev, r, cfg->entropy.transport)) < 0) {
			virtio_dev_destroy(&r->vdev);
			free(r);
			log_error("cannot create the virtio-rng device");
			return err;
		}
		vd->rng = r;
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		if (cfg->nets[i].model == NET_MODEL_E1000) {
			struct e1000 *e = calloc(1, sizeof(*e));
			if (!e)
				return -ENOMEM;
			if ((err = e1000_create(e, vm_e1000_params(&cfg->nets[i], &(struct e1000_params){ 0 }), vd->ne1000,
						&vm->mem, &vd->io, &vd->pci)) < 0) {
				free(e);
				return err;
			}
			vd->e1000[vd->ne1000++] = e;
			continue;
		}
		struct virtio_net *n = calloc(1, sizeof(*n));
		if (!n)
			return -ENOMEM;
		if ((err = virtio_net_create(n, vm_net_params(&cfg->nets[i], &(struct virtio_net_params){ 0 }), i, &vm->mem, &vd->io)) < 0) {
			free(n);
			log_error("network interface '%s': cannot create the virtio-net device", cfg->nets[i].iface_id);
			return err;
		}
		if ((err = vm_devices_add_virtio(vm, &n->vdev, n, cfg->nets[i].transport)) < 0) {
			virtio_dev_destroy(&n->vdev);
			free(n);
			return err;
		}
		vd->net[vd->nnet++] = n;
	}
	if ((err = attach_mmds(vm)) < 0)
		return err;
	if (cfg->has_vsock) {
		struct virtio_vsock *v = calloc(1, sizeof(*v));
		if (!v)
			return -ENOMEM;
		struct virtio_vsock_params vp;
		if ((err = virtio_vsock_create(v, vm_vsock_params(&cfg->vsock, &vp), &vm->mem, &vd->io)) < 0) {
			free(v);
			log_error("cannot create the virtio-vsock device");
			return err;
		}
		if ((err = vm_devices_add_virtio(vm, &v->vdev, v, cfg->vsock.transport)) < 0) {
			virtio_dev_destroy(&v->vdev);
			free(v);
			return err;
		}
		vd->vsock = v;
	}
	if (cfg->has_balloon) {
		struct virtio_balloon *b = calloc(1, sizeof(*b));
		if (!b)
			return -ENOMEM;
		const struct balloon_config *bc = &cfg->balloon;
		struct balloon_params bp = { bc->amount_mib, bc->deflate_on_oom, bc->stats_polling_interval_s,
					     bc->free_page_reporting, bc->free_page_hinting };
		if ((err = virtio_balloon_create(b, &bp, &vm->mem, &vd->io)) < 0) {
			free(b);
			log_error("cannot create the virtio-balloon device: %s", strerror(-err));
			return err;
		}
		if ((err = vm_devices_add_virtio(vm, &b->vdev, b, VIRTIO_TRANSPORT_DEFAULT)) < 0) {
			virtio_dev_destroy(&b->vdev);
			free(b);
			return err;
		}
		vd->balloon = b;
	}
	if (cfg->has_memory_hotplug && (err = create_vmem(vm)) < 0)
		return err;
	if ((err = create_pmem(vm)) < 0)
		return err;
	return create_fs(vm);
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
	for (unsigned i = 0; i < vd->nvirtio; i++)
		virtio_quiesce(vd->virtio[i].vdev);
	for (unsigned i = 0; i < vd->ne1000; i++)
		e1000_quiesce(vd->e1000[i]);
	return 0;
}

void vm_devices_resume(struct vm *vm)
{
	vmgenid_resumed(&vm->devs.genid);
	if (vm->devs.io_ready)
		io_thread_resume(&vm->devs.io);
	for (unsigned i = 0; i < vm->devs.ne1000; i++)
		e1000_resume(vm->devs.e1000[i]);
}

void vm_devices_destroy(struct vm *vm)
{
	struct vm_devices *vd = &vm->devs;
	if (vd->io_ready)
		io_thread_stop(&vd->io);
	for (unsigned i = vd->nvirtio; i-- > 0;) {
		struct vm_virtio *v = &vd->virtio[i];
		if (v->mmio)
			virtio_mmio_destroy(&v->tr.mmio);
		else
			virtio_pci_destroy(&v->tr.pci);
		virtio_dev_destroy(v->vdev);
		free(v->dev);
	}
	for (unsigned i = 0; i < vd->ne1000; i++) {
		e1000_destroy(vd->e1000[i]);
		free(vd->e1000[i]);
	}
	vd->ne1000 = 0;
	vd->nvirtio = vd->nmmio = vd->nblk = 0;
	vd->rng = NULL;
	vd->nnet = 0;
	vd->vsock = NULL;
	vd->balloon = NULL;
	vd->vmem = NULL;
	vd->npmem = 0;
	vd->nfs = 0;
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
	for (unsigned i = 0; i < vm->devs.nvirtio; i++) {
		struct vm_virtio *v = &vm->devs.virtio[i];
		struct virtio_net *n = v->vdev->device_id == VIRTIO_ID_NET ? v->dev : NULL;
		if (!n)
			continue;
		if (!round && virtio_net_request_announce(n))
			log_debug("%s: the guest was asked to announce itself", v->vdev->name);
		if (n->is_tap && n->st.has_mac && tap_announce(n->tap.fd, n->st.mac) < 0 && !round)
			log_warn("cannot announce %s on %s", v->vdev->name, n->tap.ifname);
	}
	for (unsigned i = 0; i < vm->devs.ne1000; i++) {
		struct e1000 *e = vm->devs.e1000[i];
		if (e->is_tap && tap_announce(e->tap.fd, e->mac) < 0 && !round)
			log_warn("cannot announce %s on %s", e->name, e->tap.ifname);
	}
}

void vm_set_output_gate(struct vm *vm, struct outgate *g)
{
	__atomic_store_n(&vm->serial.gate, g, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < vm->devs.nvirtio; i++) {
		struct vm_virtio *v = &vm->devs.virtio[i];
		if (v->vdev->device_id == VIRTIO_ID_NET)
			__atomic_store_n(&((struct virtio_net *)v->dev)->gate, g, __ATOMIC_RELEASE);
		else if (v->vdev->device_id == VIRTIO_ID_VSOCK)
			virtio_vsock_gate(v->dev, g != NULL);
	}
	for (unsigned i = 0; i < vm->devs.ne1000; i++)
		__atomic_store_n(&vm->devs.e1000[i]->gate, g, __ATOMIC_RELEASE);
}

struct outgate *vm_output_gate(struct vm *vm)
{
	return __atomic_load_n(&vm->serial.gate, __ATOMIC_ACQUIRE);
}
