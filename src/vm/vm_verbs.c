/* The verbs the layers above use on a VM (vm/vm.h): struct vm is opaque to them, so what they
 * may ask of it is written down here, one small function each, and nothing above src/vm takes a
 * lock of the VM's or walks its device tables itself. */
#include "vm/vm_internal.h"

#include "util/stat.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct vm *vm_alloc(void)
{
	/* Fresh anonymous pages, not calloc: zero without being written whatever malloc's state
	 * (calloc clears a chunk that comes from the heap), so the slots of the vCPUs and devices
	 * this VM does not have stay untouched, as vm_create asks. */
	void *p = mmap(NULL, sizeof(struct vm), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void vm_free(struct vm *vm)
{
	if (vm)
		munmap(vm, sizeof(*vm));
}

void vm_clear(struct vm *vm)
{
	memset(vm, 0, sizeof(*vm));
}

const struct vm_config *vm_config(struct vm *vm)
{
	return vm->cfg;
}

void vm_set_start_paused(struct vm *vm, bool paused)
{
	__atomic_store_n(&vm->pause_requested, paused, __ATOMIC_RELEASE);
}

bool vm_devices_quiesced(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	bool q = vm->devices_paused;
	pthread_mutex_unlock(&vm->lock);
	return q;
}

bool vm_stopping(struct vm *vm)
{
	return __atomic_load_n(&vm->stopping, __ATOMIC_ACQUIRE);
}

int vm_stop_fd(struct vm *vm)
{
	return vm->stop_efd;
}

enum vm_stop_reason vm_stop_reason(struct vm *vm, const char **msg)
{
	if (!vm_stopping(vm)) {
		if (msg)
			*msg = "";
		return VM_STOP_NONE;
	}
	if (msg)
		*msg = vm->stop_msg;
	return vm->stop_reason;
}

uint64_t vm_start_ns(struct vm *vm)
{
	return vm->start_ns;
}

uint64_t vm_first_run_ns(struct vm *vm)
{
	return __atomic_load_n(&vm->first_run_ns, __ATOMIC_ACQUIRE);
}

bool vm_is_pvm(struct vm *vm)
{
	return vm->pvm;
}

unsigned vm_vcpu_count(struct vm *vm)
{
	return vm->nvcpus;
}

int vm_vcpu_fd(struct vm *vm, unsigned i)
{
	return i < vm->nvcpus ? vm->vcpus[i].fd : -1;
}

void vm_throttle_vcpus(struct vm *vm, unsigned us)
{
	for (unsigned i = 0; i < vm->nvcpus; i++) {
		__atomic_store_n(&vm->vcpus[i].throttle_us, us, __ATOMIC_RELEASE);
		if (us)
			vcpu_kick(&vm->vcpus[i]);
	}
}

struct guest_mem *vm_guest_mem(struct vm *vm)
{
	return &vm->mem;
}

struct kvm *vm_kvm(struct vm *vm)
{
	return &vm->kvm;
}

int vm_dirty_log_start(struct vm *vm)
{
	return guest_mem_dirty_log_start(&vm->mem, &vm->kvm);
}

void vm_dirty_log_stop(struct vm *vm)
{
	guest_mem_dirty_log_stop(&vm->mem, &vm->kvm);
}

bool vm_dirty_logging(struct vm *vm)
{
	return vm->mem.dirty_log;
}

int vm_take_dirty(struct vm *vm, uint64_t **bitmaps)
{
	return guest_mem_take_dirty(&vm->mem, &vm->kvm, bitmaps);
}

int vm_fetch_dirty(struct vm *vm, uint64_t **bitmaps)
{
	return guest_mem_fetch_dirty(&vm->mem, &vm->kvm, bitmaps);
}

int vm_clear_dirty(struct vm *vm, unsigned region, uint64_t first_page, uint64_t npages, uint64_t *bits)
{
	return guest_mem_clear_dirty(&vm->mem, &vm->kvm, region, first_page, npages, bits);
}

const char *vm_snapshot_parent(struct vm *vm, uint8_t *id)
{
	if (id)
		memcpy(id, vm->snap_parent_id, sizeof(vm->snap_parent_id));
	return vm->snap_parent;
}

void vm_set_snapshot_parent(struct vm *vm, char *path, const uint8_t *id)
{
	free(vm->snap_parent);
	vm->snap_parent = path;
	if (path && id)
		memcpy(vm->snap_parent_id, id, sizeof(vm->snap_parent_id));
}

struct serial *vm_serial(struct vm *vm)
{
	return &vm->serial;
}

struct display *vm_display(struct vm *vm)
{
	return vm->devs.display;
}

struct bus *vm_mmio_bus(struct vm *vm)
{
	return &vm->mmio;
}

struct virtio_blk *vm_blk(struct vm *vm, unsigned i)
{
	return vm_device_of(vm, DEV_BLK, i);
}

struct virtio_pmem *vm_pmem(struct vm *vm, unsigned i)
{
	return vm_device_of(vm, DEV_PMEM, i);
}

struct virtio_vsock *vm_vsock(struct vm *vm)
{
	return vm_device_of(vm, DEV_VSOCK, 0);
}

struct virtio_console *vm_console(struct vm *vm)
{
	return vm_device_of(vm, DEV_CONSOLE, 0);
}

struct virtio_balloon *vm_balloon(struct vm *vm)
{
	return vm_device_of(vm, DEV_BALLOON, 0);
}

struct virtio_mem *vm_virtio_mem(struct vm *vm)
{
	return vm_device_of(vm, DEV_VMEM, 0);
}

int vm_net_by_iface(struct vm *vm, const char *iface_id, struct virtio_net **net, struct e1000 **card)
{
	*net = NULL;
	*card = NULL;
	for (unsigned i = 0; i < vm->devs.ndev; i++) {
		const struct vm_device *d = &vm->devs.dev[i];
		if ((d->kind == DEV_NET || d->kind == DEV_E1000) && !strcmp(d->id, iface_id)) {
			*(d->kind == DEV_NET ? (void **)net : (void **)card) = d->dev;
			return 0;
		}
	}
	return -ENOENT;
}

unsigned vm_virtio_count(struct vm *vm)
{
	unsigned n = 0;
	for (unsigned i = 0; i < vm->devs.ndev; i++)
		n += vm->devs.dev[i].vdev != NULL;
	return n;
}

int vm_send_ctrl_alt_del(struct vm *vm)
{
	return i8042_send_ctrl_alt_del(&vm->i8042);
}

int vm_new_generation(struct vm *vm)
{
	return vm->devs.genid.present ? vmgenid_new_id(&vm->devs.genid, true) : 0;
}

void vm_legacy_metrics(struct vm *vm, struct vm_legacy_metrics *out)
{
	*out = (struct vm_legacy_metrics){
		.uart_tx_bytes = stat_read(&vm->serial.tx_bytes), .uart_rx_bytes = stat_read(&vm->serial.rx_bytes),
		.uart_tx_dropped = stat_read(&vm->serial.tx_dropped),
		.uart_rl_dropped = stat_read(&vm->serial.rl_dropped),
		.kbd_reads = stat_read(&vm->i8042.read_count), .kbd_writes = stat_read(&vm->i8042.write_count),
		.kbd_resets = stat_read(&vm->i8042.reset_count),
		.kbd_ctrl_alt_del = stat_read(&vm->i8042.ctrl_alt_del_count),
	};
}
