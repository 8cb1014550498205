/* Coalesced MMIO: zones, the ring's mapping and its drain (kvm_coalesced.h). */
#include "kvm/kvm_coalesced.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

uint32_t kvm_coalesced_ring_max(size_t page_size)
{
	return (uint32_t)((page_size - sizeof(struct kvm_coalesced_mmio_ring)) / sizeof(struct kvm_coalesced_mmio));
}

bool kvm_coalesced_available(const struct kvm *kvm)
{
	return kvm->coalesced.page != 0 && kvm->vm_fd >= 0;
}

int kvm_coalesced_zone(struct kvm *kvm, uint64_t addr, uint32_t size, bool add)
{
	if (!kvm_coalesced_available(kvm))
		return -ENOTSUP;
	struct kvm_coalesced_mmio_zone z = { .addr = addr, .size = size };
	if (ioctl(kvm->vm_fd, add ? KVM_REGISTER_COALESCED_MMIO : KVM_UNREGISTER_COALESCED_MMIO, &z) < 0) {
		int err = -errno;
		log_warn("KVM_%sREGISTER_COALESCED_MMIO 0x%llx+0x%x: %s", add ? "" : "UN",
			 (unsigned long long)addr, size, strerror(errno));
		return err;
	}
	return 0;
}

int kvm_coalesced_map(struct kvm *kvm, int vcpu_fd)
{
	if (!kvm->coalesced.page || kvm->coalesced.ring)
		return 0;
	size_t psz = (size_t)sysconf(_SC_PAGESIZE);
	off_t off = (off_t)kvm->coalesced.page * (off_t)psz;
	/* Zones may be registered already (devices come before vCPUs): without the ring their
	 * writes would wait forever, so failing here fails the vCPU. */
	if ((size_t)off + psz > kvm->run_size) {
		log_error("KVM's coalesced MMIO ring (page %u) lies outside the vCPU mapping (%zu bytes)",
			  kvm->coalesced.page, kvm->run_size);
		return -EIO;
	}
	void *p = mmap(NULL, psz, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, off);
	if (p == MAP_FAILED) {
		int err = -errno;
		log_error("mapping KVM's coalesced MMIO ring: %s", strerror(errno));
		return err;
	}
	kvm->coalesced.map_size = psz;
	kvm->coalesced.max = kvm_coalesced_ring_max(psz);
	__atomic_store_n(&kvm->coalesced.ring, p, __ATOMIC_RELEASE);
	return 0;
}

void kvm_coalesced_set_sink(struct kvm *kvm, kvm_coalesced_sink_fn fn, void *opaque)
{
	pthread_mutex_lock(&kvm->coalesced.lock);
	kvm->coalesced.sink = fn;
	kvm->coalesced.sink_opaque = opaque;
	pthread_mutex_unlock(&kvm->coalesced.lock);
}

int kvm_coalesced_drain(struct kvm_coalesced_mmio_ring *ring, uint32_t max, kvm_coalesced_sink_fn fn,
			void *opaque)
{
	/* KVM writes an entry, then moves `last`; we replay it, then move `first` (which frees
	 * the slot for KVM). */
	uint32_t first = __atomic_load_n(&ring->first, __ATOMIC_RELAXED);
	uint32_t last = __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE);
	if (first >= max || last >= max) {
		log_error("coalesced MMIO ring indices out of range (first %u, last %u, %u entries)", first, last, max);
		if (last < max)
			__atomic_store_n(&ring->first, last, __ATOMIC_RELEASE);
		return -EIO;
	}
	int n = 0;
	while (first != last) {
		struct kvm_coalesced_mmio e;
		memcpy(&e, &ring->coalesced_mmio[first], sizeof(e));
		if (e.len == 0 || e.len > sizeof(e.data)) {
			log_error("coalesced MMIO entry %u: length %u", first, e.len);
			__atomic_store_n(&ring->first, last, __ATOMIC_RELEASE);
			return -EIO;
		}
		if (fn)
			fn(opaque, e.phys_addr, e.data, e.len);
		first = (first + 1) % max;
		__atomic_store_n(&ring->first, first, __ATOMIC_RELEASE);
		n++;
	}
	return n;
}

int kvm_coalesced_flush(struct kvm *kvm)
{
	struct kvm_coalesced_mmio_ring *ring = __atomic_load_n(&kvm->coalesced.ring, __ATOMIC_ACQUIRE);
	if (!ring)
		return 0;
	/* Nothing to do is the usual case at an exit: no lock for it. A drainer moves `first`
	 * only after the write it replays took effect, so equal indices mean all of them did. */
	if (__atomic_load_n(&ring->first, __ATOMIC_ACQUIRE) == __atomic_load_n(&ring->last, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&kvm->coalesced.lock);
	int n = kvm_coalesced_drain(ring, kvm->coalesced.max, kvm->coalesced.sink, kvm->coalesced.sink_opaque);
	pthread_mutex_unlock(&kvm->coalesced.lock);
	return n;
}
