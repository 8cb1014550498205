/* KVM's coalesced MMIO: a guest write inside a registered zone causes no exit; KVM appends
 * (address, length, data) to a ring in a page it shares with user space (page
 * KVM_CAP_COALESCED_MMIO of each vCPU's kvm_run mapping: one ring per VM, every vCPU maps the
 * same page), and the VMM replays the writes, in order, before it handles anything else. For
 * registers whose writes have no effect the guest waits on (QEMU's E1000 uses it for all but a
 * few): it saves the exit, the write takes effect at the next exit of any vCPU or flush.
 *
 * Draining: one thread at a time under kvm->coalesced.lock (the ring is the VM's), entries
 * handed to the sink the owner of the MMIO bus set; any thread may flush (the vCPUs at each
 * exit, a device that waits for a write the guest may have made). The indices come from a page
 * the guest's host kernel shares with us: out of range is an error, not a crash. */
#ifndef PETREL_KVM_KVM_COALESCED_H
#define PETREL_KVM_KVM_COALESCED_H

#include "kvm/kvm.h"

#include <stdbool.h>
#include <stdint.h>

/* Register (add) or remove every zone inside [addr, addr + size) (remove takes each zone that
 * lies inside the range). -ENOTSUP when the host has no coalesced MMIO: the writes then exit
 * as before. */
int kvm_coalesced_zone(struct kvm *kvm, uint64_t addr, uint32_t size, bool add);
/* Whether zones can be registered (the host has the capability). */
bool kvm_coalesced_available(const struct kvm *kvm);
/* Map the ring from a vCPU's fd (the first call does; later ones do nothing). 0 or -errno. */
int kvm_coalesced_map(struct kvm *kvm, int vcpu_fd);
/* Where drained writes go (the MMIO bus): set once, before the first vCPU runs. */
void kvm_coalesced_set_sink(struct kvm *kvm, kvm_coalesced_sink_fn fn, void *opaque);
/* Replay what the ring holds: the number of writes, 0 with no ring, -EIO when its indices or
 * an entry make no sense (the ring is then emptied: those writes are lost). */
int kvm_coalesced_flush(struct kvm *kvm);
/* The drain itself, on a ring of `max` entries (testable without KVM). Same returns. */
int kvm_coalesced_drain(struct kvm_coalesced_mmio_ring *ring, uint32_t max, kvm_coalesced_sink_fn fn,
			void *opaque);
/* The ring's entries for a page of page_size bytes (KVM_COALESCED_MMIO_MAX). */
uint32_t kvm_coalesced_ring_max(size_t page_size);

#endif
