/* The kinds of device a VM attaches, one row each, in attach order: how many the definition
 * has and how to make one. vm_devices_create walks the rows and puts each device made on its
 * transport and in the VM's list (vm/vm_device.h); a new device is its own files and a row
 * here (docs/development.md, "Adding a device"). */
#include "vm/vm_devices.h"
#include "devices/display/display_dev.h"
#include "devices/display/stdvga.h"
#include "util/log.h"
#include "vm/device_params.h"
#include "vm/vm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

/* ---- drives: virtio-blk ---- */

static unsigned count_blk(const struct vm_config *cfg)
{
	return cfg->ndrives;
}

static int make_blk(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct drive_config *c = &vm->cfg->drives[i];
	struct virtio_blk *b = dev;
	struct virtio_blk_params bp;
	int err = virtio_blk_create(b, vm_blk_params(c, &bp), i, &vm->mem, &vm->devs.io);
	if (err < 0) {
		log_error("drive '%s': cannot create the virtio-blk device", c->drive_id);
		return err;
	}
	*d = (struct vm_device){ .id = c->drive_id, .vdev = &b->vdev };
	*tr = c->transport;
	return 0;
}

/* ---- entropy: virtio-rng ---- */

static unsigned count_rng(const struct vm_config *cfg)
{
	return cfg->has_entropy;
}

static int make_rng(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct virtio_rng *r = dev;
	int err = virtio_rng_create(r, 0, &vm->cfg->entropy.rate_limiter, &vm->mem, &vm->devs.io);
	if (err < 0) {
		virtio_dev_destroy(&r->vdev);
		log_error("cannot create the virtio-rng device");
		return err;
	}
	*d = (struct vm_device){ .vdev = &r->vdev };
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

static enum dev_kind net_model(const struct vm_config *cfg, unsigned i)
{
	return cfg->nets[i].model == NET_MODEL_E1000 ? DEV_E1000 : DEV_NET;
}

static int make_net(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct net_config *c = &vm->cfg->nets[i];
	struct virtio_net *n = dev;
	int err = virtio_net_create(n, vm_net_params(c, &(struct virtio_net_params){ 0 }), i, &vm->mem, &vm->devs.io);
	if (err < 0) {
		log_error("network interface '%s': cannot create the virtio-net device", c->iface_id);
		return err;
	}
	*d = (struct vm_device){ .id = n->iface_id, .vdev = &n->vdev };
	*tr = c->transport;
	return 0;
}

static int make_e1000(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct e1000 *e = dev;
	int err = e1000_create(e, vm_e1000_params(&vm->cfg->nets[i], &(struct e1000_params){ 0 }),
			       count_kind(vm, DEV_E1000), &vm->mem, &vm->devs.io, &vm->devs.pci);
	if (err < 0)
		return err;
	*d = (struct vm_device){ .id = e->iface_id };
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

static void reset_e1000(void *dev)
{
	e1000_reset(dev);
}

/* ---- virtio-vsock ---- */

static unsigned count_vsock(const struct vm_config *cfg)
{
	return cfg->has_vsock;
}

static int make_vsock(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct virtio_vsock *v = dev;
	struct virtio_vsock_params vp;
	int err = virtio_vsock_create(v, vm_vsock_params(&vm->cfg->vsock, &vp), &vm->mem, &vm->devs.io);
	if (err < 0) {
		log_error("cannot create the virtio-vsock device");
		return err;
	}
	*d = (struct vm_device){ .vdev = &v->vdev };
	*tr = vm->cfg->vsock.transport;
	return 0;
}

/* ---- virtio-balloon ---- */

static unsigned count_balloon(const struct vm_config *cfg)
{
	return cfg->has_balloon;
}

static int make_balloon(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct virtio_balloon *b = dev;
	const struct balloon_config *bc = &vm->cfg->balloon;
	struct balloon_params bp = { bc->amount_mib, bc->deflate_on_oom, bc->stats_polling_interval_s,
				     bc->free_page_reporting, bc->free_page_hinting };
	int err = virtio_balloon_create(b, &bp, &vm->mem, &vm->devs.io);
	if (err < 0) {
		log_error("cannot create the virtio-balloon device: %s", strerror(-err));
		return err;
	}
	*d = (struct vm_device){ .vdev = &b->vdev };
	return 0;
}

/* ---- virtio-mem over the hot-pluggable region vm.c mapped after RAM ---- */

static unsigned count_vmem(const struct vm_config *cfg)
{
	return cfg->has_memory_hotplug;
}

static int make_vmem(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct hotplug_memory_config *c = &vm->cfg->memory_hotplug;
	const struct guest_region *g = NULL;
	for (unsigned r = 0; r < vm->mem.nregions; r++)
		if (vm->mem.regions[r].hotplug)
			g = &vm->mem.regions[r];
	struct virtio_mem *m = dev;
	if (!g)
		return -ENOENT;
	struct virtio_mem_params p = { g->gpa, g->size, (uint64_t)c->block_size_mib << 20,
				       (uint64_t)c->slot_size_mib << 20 };
	int err = virtio_mem_create(m, &p, &vm->mem, &vm->devs.io);
	if (err < 0) {
		log_error("cannot create the virtio-mem device: %s", strerror(-err));
		return err;
	}
	*d = (struct vm_device){ .vdev = &m->vdev };
	return 0;
}

/* A driver's reset keeps the plugged blocks (the virtio-mem specification); the machine's
 * unplugs them all, as QEMU's: the new boot's driver plugs up to the requested size again. */
static void reset_vmem(void *dev)
{
	virtio_mem_unplug_all(dev);
}

/* ---- virtio-pmem (docs/pmem.md): the guest names them /dev/pmem0, 1, ... in configuration
 * order, and their device memory follows the same order in vm->devmem ---- */

static unsigned count_pmem(const struct vm_config *cfg)
{
	return cfg->npmem;
}

static int make_pmem(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct pmem_config *c = &vm->cfg->pmem[i];
	struct virtio_pmem *p = dev;
	char msg[512];
	int err = virtio_pmem_create(p, vm_pmem_params(c, &(struct virtio_pmem_params){ 0 }), i, &vm->mem,
				     &vm->devs.io, msg, sizeof(msg));
	if (err < 0) {
		log_error("%s", msg);
		return err;
	}
	if ((err = virtio_pmem_plug(p, &vm->devmem, &vm->kvm, msg, sizeof(msg))) < 0) {
		log_error("%s", msg);
		virtio_dev_destroy(&p->vdev);
		return err;
	}
	*d = (struct vm_device){ .id = c->id, .vdev = &p->vdev };
	*tr = c->transport;
	return 0;
}

/* ---- virtio-fs (docs/virtio-fs.md): each connects to its back end now, so a VM whose back
 * end is not listening does not start ---- */

static unsigned count_fs(const struct vm_config *cfg)
{
	return cfg->nfs;
}

static int make_fs(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct fs_config *c = &vm->cfg->fs[i];
	struct virtio_fs *f = dev;
	struct virtio_fs_params p = { c->id, c->socket, c->tag, c->num_request_queues, (uint16_t)c->queue_size };
	char msg[512];
	int err = virtio_fs_create(f, &p, &vm->mem, &vm->devs.io, msg, sizeof(msg));
	if (err < 0) {
		log_error("%s", msg);
		return err;
	}
	*d = (struct vm_device){ .id = c->id, .vdev = &f->vdev };
	*tr = c->transport;
	return 0;
}

/* ---- the screen (docs/display.md): bochs-display or stdvga, and the struct display its readers (the
 * worker's VNC server) use over it and the input devices ---- */

static unsigned count_display(const struct vm_config *cfg)
{
	return cfg->has_display;
}

static int make_display(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	const struct display_config *c = &vm->cfg->display;
	struct bochs_params p = { c->width, c->height, .vga = c->model == DISPLAY_MODEL_STDVGA };
	char msg[512];
	int err = bochs_create(dev, &p, &vm->kvm, &vm->devs.pci, msg, sizeof(msg));
	if (err < 0) {
		log_error("%s", msg);
		return err;
	}
	if (!p.vga)
		return 0;
	/* stdvga: the VGA's ports and its window, where guest RAM leaves a hole */
	err = guest_mem_hole_vga(&vm->mem, &vm->kvm);
	if (err < 0)
		log_error("stdvga: cannot leave the VGA window 0xa0000-0xbffff out of guest RAM: %s", strerror(-err));
	err = err ?: stdvga_attach(dev, &vm->pio, &vm->mmio);
	if (err < 0)
		log_error("stdvga: cannot register the VGA's ports and window: %s", strerror(-err));
	return err;
}

static unsigned count_tablet(const struct vm_config *cfg)
{
	return cfg->has_display && cfg->display.tablet;
}

static int make_tablet(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct virtio_input *t = dev;
	int err = virtio_input_create(t, &vm->mem, &vm->devs.io);
	if (err < 0) {
		log_error("cannot create the virtio-input tablet: %s", strerror(-err));
		return err;
	}
	*d = (struct vm_device){ .vdev = &t->vdev };
	*tr = VIRTIO_TRANSPORT_PCI;   /* beside the screen, where a firmware finds it too */
	return 0;
}

/* Once the screen and the input devices are there (the tablet's row's after): what
 * display.h's readers get. */
static int make_display_view(struct vm *vm)
{
	struct bochs *fb = vm_device_of(vm, DEV_DISPLAY, 0);
	if (!fb)
		return 0;
	vm->devs.display = display_new(fb, &vm->i8042, vm_device_of(vm, DEV_TABLET, 0));
	return vm->devs.display ? 0 : -ENOMEM;
}

static void destroy_display(void *dev)
{
	bochs_destroy(dev);
}

static void reset_display(void *dev)
{
	bochs_reset(dev);
}

/* ---- virtio-console (docs/guest-agent.md): the definition's ports and the guest agent's ---- */

static unsigned count_console(const struct vm_config *cfg)
{
	return vm_config_has_console(cfg);
}

static int make_console(struct vm *vm, unsigned i, void *dev, struct vm_device *d, enum virtio_transport_kind *tr)
{
	struct vcon_port_params p[VCON_MAX_PORTS - 1];
	const struct vm_config *cfg = vm->cfg;
	/* the agent's end is the caller's: the device owns a copy of it */
	int afd = cfg->guest_agent_fd_set ? fcntl(cfg->guest_agent_fd, F_DUPFD_CLOEXEC, 3) : -1;
	if (cfg->guest_agent_fd_set && afd < 0) {
		log_error("virtio-console: cannot take the guest agent's socket: %s", strerror(errno));
		return -errno;
	}
	unsigned n = vm_console_params(cfg, afd, p);
	char msg[512];
	int err = virtio_console_create(dev, p, n, &vm->mem, &vm->devs.io, msg, sizeof(msg));
	if (err < 0) {
		log_error("%s", msg);
		return err;
	}
	*d = (struct vm_device){ .vdev = &((struct virtio_console *)dev)->vdev };
	*tr = cfg->console_transport;
	return 0;
}

static void no_op(void *dev)
{
	(void)dev;   /* nothing runs outside the vCPUs' accesses: nothing to quiesce */
}

#define SIZE(type) .size = sizeof(struct type)
const struct vm_device_kind vm_device_kinds[DEV_KINDS] = {
	[DEV_BLK] = { count_blk, SIZE(virtio_blk), .make = make_blk, .stats = &virtio_blk_stats_ops },
	[DEV_RNG] = { count_rng, SIZE(virtio_rng), .make = make_rng, .stats = &virtio_rng_stats_ops },
	[DEV_NET] = { count_net, SIZE(virtio_net), .which = net_model, .make = make_net, .after = vm_devices_attach_mmds,
		      .stats = &virtio_net_stats_ops },
	[DEV_E1000] = { NULL, SIZE(e1000), .make = make_e1000, .stats = &e1000_stats_ops, .state = &e1000_state_ops,
			.destroy = destroy_e1000, .quiesce = quiesce_e1000, .resume = resume_e1000, .reset = reset_e1000 },
	[DEV_VSOCK] = { count_vsock, SIZE(virtio_vsock), .make = make_vsock, .stats = &virtio_vsock_stats_ops },
	[DEV_BALLOON] = { count_balloon, SIZE(virtio_balloon), .make = make_balloon },
	[DEV_VMEM] = { count_vmem, SIZE(virtio_mem), .make = make_vmem, .reset = reset_vmem },
	[DEV_PMEM] = { count_pmem, SIZE(virtio_pmem), .make = make_pmem },
	[DEV_FS] = { count_fs, SIZE(virtio_fs), .make = make_fs },
	[DEV_DISPLAY] = { count_display, SIZE(bochs), .make = make_display,
			  .state = &bochs_state_ops, .destroy = destroy_display, .quiesce = no_op, .resume = no_op,
			  .reset = reset_display },
	[DEV_TABLET] = { count_tablet, SIZE(virtio_input), .make = make_tablet, .after = make_display_view },
	[DEV_CONSOLE] = { count_console, SIZE(virtio_console), .make = make_console, .stats = &virtio_console_stats_ops },
};
