/* The kinds of device a VM attaches, one row each, in attach order: how many the definition
 * has and how to make one. vm_devices_create walks the rows and puts each device made on its
 * transport and in the VM's list (vm/vm_device.h); a new device is its own files and a row
 * here (docs/development.md, "Adding a device"). */
#include "vm/vm_devices.h"
#include "util/log.h"
#include "vm/device_params.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- drives: virtio-blk ---- */

static unsigned count_blk(const struct vm_config *cfg)
{
	return cfg->ndrives;
}

static int make_blk(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct drive_config *c = &vm->cfg->drives[i];
	struct virtio_blk *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	struct virtio_blk_params bp;
	int err = virtio_blk_create(b, vm_blk_params(c, &bp), i, &vm->mem, &vm->devs.io);
	if (err < 0) {
		free(b);
		log_error("drive '%s': cannot create the virtio-blk device", c->drive_id);
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_BLK, .id = c->drive_id, .dev = b, .vdev = &b->vdev };
	*tr = c->transport;
	return 0;
}

/* ---- entropy: virtio-rng ---- */

static unsigned count_rng(const struct vm_config *cfg)
{
	return cfg->has_entropy;
}

static int make_rng(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct virtio_rng *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	int err = virtio_rng_create(r, 0, &vm->cfg->entropy.rate_limiter, &vm->mem, &vm->devs.io);
	if (err < 0) {
		virtio_dev_destroy(&r->vdev);
		free(r);
		log_error("cannot create the virtio-rng device");
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_RNG, .dev = r, .vdev = &r->vdev };
	*tr = vm->cfg->entropy.transport;
	return 0;
}

/* ---- network interfaces: virtio-net, or an E1000 card where the definition says so ---- */

static unsigned count_net(const struct vm_config *cfg)
{
	return cfg->nnets;
}

static unsigned count_kind(struct vm *vm, enum dev_kind kind)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->devs.ndev; i++)
		n += vm->devs.dev[i].kind == kind;
	return n;
}

static int make_e1000(struct vm *vm, unsigned i, struct vm_device *d)
{
	struct e1000 *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	int err = e1000_create(e, vm_e1000_params(&vm->cfg->nets[i], &(struct e1000_params){ 0 }),
			       count_kind(vm, DEV_E1000), &vm->mem, &vm->devs.io, &vm->devs.pci);
	if (err < 0) {
		free(e);
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_E1000, .id = e->iface_id, .dev = e };
	return 0;
}

static int make_net(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct net_config *c = &vm->cfg->nets[i];
	if (c->model == NET_MODEL_E1000)
		return make_e1000(vm, i, d);
	struct virtio_net *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	int err = virtio_net_create(n, vm_net_params(c, &(struct virtio_net_params){ 0 }), i, &vm->mem, &vm->devs.io);
	if (err < 0) {
		free(n);
		log_error("network interface '%s': cannot create the virtio-net device", c->iface_id);
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_NET, .id = n->iface_id, .dev = n, .vdev = &n->vdev };
	*tr = c->transport;
	return 0;
}

static void destroy_e1000(void *dev)
{
	e1000_destroy(dev);
}

static void quiesce_e1000(void *dev)
{
	e1000_quiesce(dev);
}

static void resume_e1000(void *dev)
{
	e1000_resume(dev);
}

/* ---- virtio-vsock ---- */

static unsigned count_vsock(const struct vm_config *cfg)
{
	return cfg->has_vsock;
}

static int make_vsock(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct virtio_vsock *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	struct virtio_vsock_params vp;
	int err = virtio_vsock_create(v, vm_vsock_params(&vm->cfg->vsock, &vp), &vm->mem, &vm->devs.io);
	if (err < 0) {
		free(v);
		log_error("cannot create the virtio-vsock device");
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_VSOCK, .dev = v, .vdev = &v->vdev };
	*tr = vm->cfg->vsock.transport;
	return 0;
}

/* ---- virtio-balloon ---- */

static unsigned count_balloon(const struct vm_config *cfg)
{
	return cfg->has_balloon;
}

static int make_balloon(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	const struct balloon_config *bc = &vm->cfg->balloon;
	struct balloon_params bp = { bc->amount_mib, bc->deflate_on_oom, bc->stats_polling_interval_s,
				     bc->free_page_reporting, bc->free_page_hinting };
	int err = virtio_balloon_create(b, &bp, &vm->mem, &vm->devs.io);
	if (err < 0) {
		free(b);
		log_error("cannot create the virtio-balloon device: %s", strerror(-err));
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_BALLOON, .dev = b, .vdev = &b->vdev };
	return 0;
}

/* ---- virtio-mem over the hot-pluggable region vm.c mapped after RAM ---- */

static unsigned count_vmem(const struct vm_config *cfg)
{
	return cfg->has_memory_hotplug;
}

static int make_vmem(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct hotplug_memory_config *c = &vm->cfg->memory_hotplug;
	const struct guest_region *g = NULL;
	for (unsigned r = 0; r < vm->mem.nregions; r++)
		if (vm->mem.regions[r].hotplug)
			g = &vm->mem.regions[r];
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
	*d = (struct vm_device){ .kind = DEV_VMEM, .dev = m, .vdev = &m->vdev };
	return 0;
}

/* ---- virtio-pmem (docs/pmem.md): the guest names them /dev/pmem0, 1, ... in configuration
 * order, and their device memory follows the same order in vm->devmem ---- */

static unsigned count_pmem(const struct vm_config *cfg)
{
	return cfg->npmem;
}

static int make_pmem(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct pmem_config *c = &vm->cfg->pmem[i];
	struct virtio_pmem *p = calloc(1, sizeof(*p));
	char msg[512];
	if (!p)
		return -ENOMEM;
	int err = virtio_pmem_create(p, vm_pmem_params(c, &(struct virtio_pmem_params){ 0 }), i, &vm->mem,
				     &vm->devs.io, msg, sizeof(msg));
	if (err < 0) {
		free(p);
		log_error("%s", msg);
		return err;
	}
	if ((err = virtio_pmem_plug(p, &vm->devmem, &vm->kvm, msg, sizeof(msg))) < 0) {
		log_error("%s", msg);
		virtio_dev_destroy(&p->vdev);
		free(p);
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_PMEM, .id = c->id, .dev = p, .vdev = &p->vdev };
	*tr = c->transport;
	return 0;
}

/* ---- virtio-fs (docs/virtio-fs.md): each connects to its back end now, so a VM whose back
 * end is not listening does not start ---- */

static unsigned count_fs(const struct vm_config *cfg)
{
	return cfg->nfs;
}

static int make_fs(struct vm *vm, unsigned i, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct fs_config *c = &vm->cfg->fs[i];
	struct virtio_fs *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	struct virtio_fs_params p = { c->id, c->socket, c->tag, c->num_request_queues, (uint16_t)c->queue_size };
	char msg[512];
	int err = virtio_fs_create(f, &p, &vm->mem, &vm->devs.io, msg, sizeof(msg));
	if (err < 0) {
		free(f);
		log_error("%s", msg);
		return err;
	}
	*d = (struct vm_device){ .kind = DEV_FS, .id = c->id, .dev = f, .vdev = &f->vdev };
	*tr = c->transport;
	return 0;
}

const struct vm_device_kind vm_device_kinds[DEV_KINDS] = {
	[DEV_BLK] = { count_blk, make_blk, .stats = &virtio_blk_stats_ops },
	[DEV_RNG] = { count_rng, make_rng, .stats = &virtio_rng_stats_ops },
	[DEV_NET] = { count_net, make_net, .after = vm_devices_attach_mmds, .stats = &virtio_net_stats_ops },
	[DEV_E1000] = { NULL, NULL, .stats = &e1000_stats_ops, .state = &e1000_state_ops,
			.destroy = destroy_e1000, .quiesce = quiesce_e1000, .resume = resume_e1000 },
	[DEV_VSOCK] = { count_vsock, make_vsock, .stats = &virtio_vsock_stats_ops },
	[DEV_BALLOON] = { count_balloon, make_balloon },
	[DEV_VMEM] = { count_vmem, make_vmem },
	[DEV_PMEM] = { count_pmem, make_pmem },
	[DEV_FS] = { count_fs, make_fs },
};
