/* Thin typed wrappers over the vCPU and VM state ioctls the VMM's layers above use (vcpu/,
 * vm/, memory/, arch/x86/): each returns 0 or -errno and leaves errno as the ioctl set it.
 * Inline: they sit on the exit path (KVM_RUN, the PVM emulator's register reads). src/kvm is
 * the one place that talks to /dev/kvm: a KVM ioctl anywhere else fails
 * scripts/check-layers.py. */
#ifndef PETREL_KVM_KVM_VCPU_H
#define PETREL_KVM_KVM_VCPU_H

#include "kvm/kvm.h"

#include <errno.h>
#include <sys/ioctl.h>

static inline int kvm_ioctl_(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) < 0 ? -errno : 0;
}

/* KVM_RUN: 0 at an exit, else -errno (EINTR/EAGAIN: a kick or immediate_exit). */
static inline int kvm_run(int vcpu_fd) { return kvm_ioctl_(vcpu_fd, KVM_RUN, NULL); }

#define KVM_VCPU_ACCESSOR_(name, req, type) \
	static inline int kvm_##name(int vcpu_fd, type *p) { return kvm_ioctl_(vcpu_fd, req, (void *)p); }
KVM_VCPU_ACCESSOR_(get_regs, KVM_GET_REGS, struct kvm_regs)
KVM_VCPU_ACCESSOR_(set_regs, KVM_SET_REGS, const struct kvm_regs)
KVM_VCPU_ACCESSOR_(get_sregs, KVM_GET_SREGS, struct kvm_sregs)
KVM_VCPU_ACCESSOR_(set_sregs, KVM_SET_SREGS, const struct kvm_sregs)
KVM_VCPU_ACCESSOR_(get_fpu, KVM_GET_FPU, struct kvm_fpu)
KVM_VCPU_ACCESSOR_(set_fpu, KVM_SET_FPU, const struct kvm_fpu)
KVM_VCPU_ACCESSOR_(get_xsave, KVM_GET_XSAVE, void)          /* a struct kvm_xsave's bytes */
KVM_VCPU_ACCESSOR_(set_xsave, KVM_SET_XSAVE, const void)
KVM_VCPU_ACCESSOR_(get_xcrs, KVM_GET_XCRS, struct kvm_xcrs)
KVM_VCPU_ACCESSOR_(set_xcrs, KVM_SET_XCRS, const struct kvm_xcrs)
KVM_VCPU_ACCESSOR_(get_vcpu_events, KVM_GET_VCPU_EVENTS, struct kvm_vcpu_events)
KVM_VCPU_ACCESSOR_(set_vcpu_events, KVM_SET_VCPU_EVENTS, const struct kvm_vcpu_events)
KVM_VCPU_ACCESSOR_(get_mp_state, KVM_GET_MP_STATE, struct kvm_mp_state)
KVM_VCPU_ACCESSOR_(set_mp_state, KVM_SET_MP_STATE, const struct kvm_mp_state)
KVM_VCPU_ACCESSOR_(get_lapic, KVM_GET_LAPIC, struct kvm_lapic_state)
KVM_VCPU_ACCESSOR_(set_lapic, KVM_SET_LAPIC, const struct kvm_lapic_state)
KVM_VCPU_ACCESSOR_(get_debugregs, KVM_GET_DEBUGREGS, struct kvm_debugregs)
KVM_VCPU_ACCESSOR_(set_debugregs, KVM_SET_DEBUGREGS, const struct kvm_debugregs)
KVM_VCPU_ACCESSOR_(set_cpuid2, KVM_SET_CPUID2, const struct kvm_cpuid2)
KVM_VCPU_ACCESSOR_(translate, KVM_TRANSLATE, struct kvm_translation)
#undef KVM_VCPU_ACCESSOR_

/* KVM_GET_MSRS / KVM_SET_MSRS: the number of entries KVM processed (it stops at the first it
 * refuses), or -errno. */
static inline int kvm_get_msrs(int vcpu_fd, struct kvm_msrs *m)
{
	int r = ioctl(vcpu_fd, KVM_GET_MSRS, m);
	return r < 0 ? -errno : r;
}
static inline int kvm_set_msrs(int vcpu_fd, const struct kvm_msrs *m)
{
	int r = ioctl(vcpu_fd, KVM_SET_MSRS, m);
	return r < 0 ? -errno : r;
}
/* One MSR: 0, or -errno (-EINVAL when KVM refused this index or value). */
static inline int kvm_msr_one_(int vcpu_fd, unsigned long req, uint32_t index, uint64_t *value)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m = { .hdr.nmsrs = 1, .e = { .index = index, .data = *value } };
	int r = ioctl(vcpu_fd, req, &m);
	if (r < 0)
		return -errno;
	*value = m.e.data;
	return r == 1 ? 0 : -EINVAL;
}
static inline int kvm_get_msr(int vcpu_fd, uint32_t index, uint64_t *value)
{
	*value = 0;
	return kvm_msr_one_(vcpu_fd, KVM_GET_MSRS, index, value);
}
static inline int kvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value)
{
	return kvm_msr_one_(vcpu_fd, KVM_SET_MSRS, index, &value);
}

/* The MSRs KVM can save and restore (on /dev/kvm itself). */
static inline int kvm_get_msr_index_list(struct kvm *kvm, struct kvm_msr_list *l)
{
	return kvm_ioctl_(kvm->fd, KVM_GET_MSR_INDEX_LIST, l);
}

/* VM-wide state. */
#define KVM_VM_ACCESSOR_(name, req, type) \
	static inline int kvm_##name(struct kvm *kvm, type *p) { return kvm_ioctl_(kvm->vm_fd, req, (void *)p); }
KVM_VM_ACCESSOR_(get_irqchip, KVM_GET_IRQCHIP, struct kvm_irqchip)
KVM_VM_ACCESSOR_(set_irqchip, KVM_SET_IRQCHIP, const struct kvm_irqchip)
KVM_VM_ACCESSOR_(get_pit2, KVM_GET_PIT2, struct kvm_pit_state2)
KVM_VM_ACCESSOR_(set_pit2, KVM_SET_PIT2, const struct kvm_pit_state2)
KVM_VM_ACCESSOR_(get_clock, KVM_GET_CLOCK, struct kvm_clock_data)
KVM_VM_ACCESSOR_(set_clock, KVM_SET_CLOCK, const struct kvm_clock_data)
KVM_VM_ACCESSOR_(enable_cap, KVM_ENABLE_CAP, const struct kvm_enable_cap)
KVM_VM_ACCESSOR_(set_msr_filter, KVM_X86_SET_MSR_FILTER, const struct kvm_msr_filter)
#undef KVM_VM_ACCESSOR_
static inline int kvm_get_dirty_log(struct kvm *kvm, struct kvm_dirty_log *l) { return kvm_ioctl_(kvm->vm_fd, KVM_GET_DIRTY_LOG, l); }
static inline int kvm_clear_dirty_log(struct kvm *kvm, struct kvm_clear_dirty_log *c)
{
	return kvm_ioctl_(kvm->vm_fd, KVM_CLEAR_DIRTY_LOG, c);
}

#endif
