/* One VM: KVM handles, guest memory, address buses, vCPUs and devices, and its lifecycle. */
#ifndef PETREL_VM_VM_H
#define PETREL_VM_VM_H

#include "bus/bus.h"
#include "config/vm_config.h"
#include "devices/legacy/serial.h"
#include "devices/power.h"
#include "kvm/kvm.h"
#include "memory/guest_mem.h"
#include "vcpu/vcpu.h"
#include "vcpu/exit_stats.h"

#include <pthread.h>
#include <stdbool.h>

struct e1000;
struct virtio_balloon;
struct virtio_blk;
struct virtio_mem;
struct virtio_net;
struct virtio_pmem;
struct virtio_vsock;

/* Opaque above src/vm: the layers above reach a VM only through the verbs below (the
 * definition is in vm/vm_internal.h, for src/vm and the unit tests; scripts/check-layers.py). */
struct vm;

#define VM_DEFAULT_CMDLINE "console=ttyS0 panic=1"

/* Build everything up to the first instruction: nothing runs yet. Logs why on failure.
 * *vm must be zero-filled (vm_alloc, or vm_clear after a vm_destroy): it is not cleared
 * here, so the pages of the slots this VM never uses are never touched. */
int vm_create(struct vm *vm, const struct vm_config *cfg, int console_out_fd);
/* The same machine for a snapshot to be loaded into: guest memory mapped privately from
 * mem_fd (the memory file), nothing booted; the caller restores every state before vm_start.
 * *vm zero-filled, as for vm_create. */
int vm_create_restored(struct vm *vm, const struct vm_config *cfg, int console_out_fd, int mem_fd);
/* What the vCPUs see of this VM, filled in on the first call (before the first vCPU is made:
 * KVM, memory, buses, CPUID and its options, the PVM flag set). */
struct vcpu_env *vm_vcpu_env(struct vm *vm);
/* Make vCPU `id` in its slot (vcpu_create with this VM's vcpu_env). */
int vm_vcpu_create(struct vm *vm, unsigned id);
/* Start one thread per vCPU. */
int vm_start(struct vm *vm);
/* Ask the VM to stop; the first request wins. Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Stop all vCPUs (they finish their current exit and wait) / let them run again.
 * vm_pause returns once every vCPU is parked. Both are idempotent. */
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
bool vm_is_paused(struct vm *vm);
/* The right to pause and resume the VM for a moment (a replication checkpoint, a migration's
 * switch until its outcome, a user's pause or resume): nobody else pauses or resumes it until
 * vm_pause_release, so a user's pause never lands inside such a moment only to be undone by
 * its resume. Neither pauses anything itself. */
void vm_pause_exclusive(struct vm *vm);
void vm_pause_release(struct vm *vm);
/* Put every output to the outside behind the gate g, or take it away (NULL): the console,
 * each network interface's transmit (virtio-net and E1000), and vsock data to host sockets
 * (held in the device's own buffers). The console's gate is what vm_output_gate returns. (util/outgate.h) */
struct outgate;
void vm_set_output_gate(struct vm *vm, struct outgate *g);
struct outgate *vm_output_gate(struct vm *vm);
/* Join the vCPU threads after a stop; returns petrel's exit status. */
int vm_join(struct vm *vm);
void vm_destroy(struct vm *vm);
/* All vCPUs' statistics merged. */
void vm_exit_stats(struct vm *vm, struct exit_stats *out);
/* A UEFI firmware's variables flash: its counters so far (what the guest's programs and erases
 * wrote into the vars file); false when the VM has no such flash (vm_firmware.c). */
struct cfi_flash_counts;
bool vm_firmware_vars_counts(struct vm *vm, struct cfi_flash_counts *out);

/* Ask every vCPU to log its registers (debugging a guest that seems stuck). */
void vm_dump_vcpus(struct vm *vm);

/* ---- What the layers above ask of a VM (vm_verbs.c): struct vm is opaque to them. ---- */

/* A zero-filled VM for vm_create or vm_create_restored, or NULL; vm_free after vm_destroy
 * (NULL is fine). */
struct vm *vm_alloc(void);
void vm_free(struct vm *vm);
/* Zero a destroyed VM again, so it can be built anew (a receiver after a refused migration). */
void vm_clear(struct vm *vm);
/* The definition the VM was built from. */
const struct vm_config *vm_config(struct vm *vm);
/* Whether the vCPUs park before their first KVM_RUN (a snapshot loaded without resume_vm).
 * Before vm_start. */
void vm_set_start_paused(struct vm *vm, bool paused);
/* Whether vm_pause quiesced the devices too (their state is all in their structs). */
bool vm_devices_quiesced(struct vm *vm);
/* The VM is stopping (vm_request_stop was called); stop_fd is an eventfd readable from then on. */
bool vm_stopping(struct vm *vm);
int vm_stop_fd(struct vm *vm);
/* Why the VM stopped (VM_STOP_NONE while it runs) and the message given with the reason. */
enum vm_stop_reason vm_stop_reason(struct vm *vm, const char **msg);
/* When vm_create began, and when a vCPU first entered KVM_RUN (0 before that). */
uint64_t vm_start_ns(struct vm *vm);
uint64_t vm_first_run_ns(struct vm *vm);
/* The PVM host workarounds are on. */
bool vm_is_pvm(struct vm *vm);

/* vCPUs: how many slots are made (present or not: vcpu_hotplug_is_present), and slot i's
 * KVM fd (what arch/x86's register verbs take; -1 past the end). */
unsigned vm_vcpu_count(struct vm *vm);
int vm_vcpu_fd(struct vm *vm, unsigned i);
/* Ask every vCPU to sleep us microseconds in each throttle period (0: not at all). */
void vm_throttle_vcpus(struct vm *vm, unsigned us);

/* Guest memory and the VM's KVM handle (memory/guest_mem.h, kvm/kvm.h take them). */
struct guest_mem *vm_guest_mem(struct vm *vm);
struct kvm *vm_kvm(struct vm *vm);
/* Dirty page logging over all of guest RAM (guest_mem_dirty_log_*), and its bitmaps: one per
 * region of vm_guest_mem's, a bit a page. */
int vm_dirty_log_start(struct vm *vm);
void vm_dirty_log_stop(struct vm *vm);
bool vm_dirty_logging(struct vm *vm);
int vm_take_dirty(struct vm *vm, uint64_t **bitmaps);
int vm_fetch_dirty(struct vm *vm, uint64_t **bitmaps);
int vm_clear_dirty(struct vm *vm, unsigned region, uint64_t first_page, uint64_t npages, uint64_t *bits);

/* The last snapshot written or loaded (what a Diff builds on): its state file's absolute path
 * (NULL: none, only a Full can follow) and, into id when not NULL, its 16-byte id. */
const char *vm_snapshot_parent(struct vm *vm, uint8_t *id);
/* Record it (path is taken over, id 16 bytes); NULL forgets it. */
void vm_set_snapshot_parent(struct vm *vm, char *path, const uint8_t *id);

/* Devices. The list of every attached device (kind, id, state, counters) is vm/vm_device.h's
 * (vm_device_at); the typed ones below are for the verbs that need a device's type (PATCH
 * /drives, /pmem, the balloon, memory hot-plug, migration's disk copy, replication's vsock
 * gate). Each in configuration order; past its end (or without the device) NULL. */
struct serial *vm_serial(struct vm *vm);
/* The VM's screen, keyboard and pointer (devices/display/display.h), NULL for a headless VM
 * (no "display" section). Lives as long as the VM. */
struct display;
struct display *vm_display(struct vm *vm);
struct bus *vm_mmio_bus(struct vm *vm);
struct virtio_blk *vm_blk(struct vm *vm, unsigned i);
struct virtio_pmem *vm_pmem(struct vm *vm, unsigned i);
struct virtio_vsock *vm_vsock(struct vm *vm);
struct virtio_balloon *vm_balloon(struct vm *vm);
/* The virtio-console (docs/guest-agent.md), NULL without one: virtio_console_port_guest_open. */
struct virtio_console *vm_console(struct vm *vm);
struct virtio_mem *vm_virtio_mem(struct vm *vm);
/* The network interface iface_id's virtio-net or E1000 (the other NULL); -ENOENT for neither. */
int vm_net_by_iface(struct vm *vm, const char *iface_id, struct virtio_net **net, struct e1000 **card);
/* How many virtio devices the VM has (what a snapshot records). */
unsigned vm_virtio_count(struct vm *vm);
/* Tell the switches the guest's MAC addresses are behind this host's taps now (RARPs, and
 * a guest announce where the driver took it): round 0 at once, then rounds 1 and 2 (each
 * sleeps 50 ms more than the one before). */
void vm_devices_announce(struct vm *vm, int round);
/* The guest's Ctrl+Alt+Del (i8042): 0, or -ENOSPC when its buffer is full. */
int vm_send_ctrl_alt_del(struct vm *vm);
/* A loaded snapshot is a new instance: a new VM generation ID (notified once it runs);
 * 0 without one. */
int vm_new_generation(struct vm *vm);

/* How many times the guest reset the machine and it booted again (vm/vm_reset.h). */
uint64_t vm_reset_count(struct vm *vm);

/* The legacy devices' counters for the metrics (the UART and the i8042). */
struct vm_legacy_metrics {
	uint64_t uart_tx_bytes, uart_rx_bytes, uart_tx_dropped, uart_rl_dropped;
	uint64_t kbd_reads, kbd_writes, kbd_resets, kbd_ctrl_alt_del;
};
void vm_legacy_metrics(struct vm *vm, struct vm_legacy_metrics *out);

#endif
