/* A VM on the fake KVM (fake_kvm.h) for run-state tests: what vm_create would have set up for
 * vCPUs to run (locks, the stop eventfd, the buses, the fake VM fd, an empty CPUID), none of the
 * devices. The caller adds what its test needs, creates vCPUs (vm_vcpu_create) and starts them. */
#ifndef PETREL_TEST_FAKE_VM_H
#define PETREL_TEST_FAKE_VM_H
#include "fake_kvm.h"

#include <sys/eventfd.h>

#include "config/vm_config.h"
#include "vm/vm_internal.h"

static inline void fake_vm_init(struct vm *vm, struct vm_config *cfg, unsigned max_vcpus)
{
	vm->cfg = cfg;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->pause_hold, NULL);
	pthread_cond_init(&vm->cond, NULL);
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	bus_init(&vm->pio, "port I/O");
	bus_init(&vm->mmio, "MMIO");
	vm->kvm.fd = vm->kvm.vm_fd = FAKE_VM_FD;
	vm->kvm.run_size = RUN_SIZE;
	vm->cpuid = calloc(1, sizeof(struct kvm_cpuid2));
	vm->cpuid_opts = (struct cpuid_opts){ .ncpus = max_vcpus };
}

#endif
