/* Thin wrappers over the KVM ioctls. Nothing else in petrel opens /dev/kvm. */
#ifndef PETREL_KVM_KVM_H
#define PETREL_KVM_KVM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A write KVM coalesced (kvm_coalesced.h), replayed: where, its bytes, 1 to 8 of them. */
typedef void (*kvm_coalesced_sink_fn)(void *opaque, uint64_t addr, const uint8_t *data, uint32_t len);

struct kvm {
	int fd;          /* /dev/kvm */
	int vm_fd;
	size_t run_size; /* size of each vCPU's kvm_run mapping */
	bool pvm;        /* host KVM is PVM (nested, software ring 0) */
	bool exception_payload; /* KVM_CAP_EXCEPTION_PAYLOAD on: #PF's CR2 travels with the event */
	bool manual_protect;     /* KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 on: reading the dirty log
				  * does not re-protect; KVM_CLEAR_DIRTY_LOG does, chunk by chunk */
	struct {                 /* coalesced MMIO (kvm_coalesced.c) */
		unsigned page;   /* KVM_CAP_COALESCED_MMIO: the ring's page in kvm_run's mapping; 0: none */
		struct kvm_coalesced_mmio_ring *ring; /* mapped from the first vCPU, or NULL */
		size_t map_size;
		uint32_t max;    /* entries */
		pthread_mutex_t lock;  /* one drainer at a time */
		kvm_coalesced_sink_fn sink;
		void *sink_opaque;
	} coalesced;
};

/* Open /dev/kvm and create a VM. Errors are logged with what to do about them. */
int kvm_open(struct kvm *kvm);
void kvm_close(struct kvm *kvm);
int kvm_check_extension(struct kvm *kvm, long cap);
/* True when the host KVM is PVM (/sys/module/kvm_pvm exists). */
bool kvm_host_is_pvm(void);

int kvm_set_user_memory(struct kvm *kvm, uint32_t slot, uint64_t gpa, uint64_t size, void *hva,
			uint32_t flags);
/* The pages of one slot (with KVM_MEM_LOG_DIRTY_PAGES) written since the last call, a bit per
 * page into bitmap (BITMAP_WORDS(npages) words, cleared first), and start over: with manual
 * protection the read pages are protected again here. A display's framebuffer
 * (devices/display) reads its own slot so; guest RAM's log is guest_mem_take_dirty's. */
int kvm_slot_take_dirty(struct kvm *kvm, uint32_t slot, uint64_t npages, uint64_t *bitmap);
int kvm_create_irqchip(struct kvm *kvm);
int kvm_irq_line(struct kvm *kvm, uint32_t irq, int level);

/* KVM_GET_SUPPORTED_CPUID, growing the array until the kernel is satisfied. Caller frees. */
int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out);

int kvm_create_vcpu(struct kvm *kvm, unsigned id, int *fd, struct kvm_run **run);
/* Undo kvm_create_vcpu's fd and mapping (KVM frees the vCPU itself with the VM). */
void kvm_destroy_vcpu(struct kvm *kvm, int fd, struct kvm_run *run);

#endif
