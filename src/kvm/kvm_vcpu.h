/* Thin typed wrappers over the vCPU and VM state ioctls the VMM's layers above use (vcpu/,
 * vm/, memory/): each returns 0 or -errno and leaves errno as the ioctl set it. Inline: they
 * sit on the exit path (KVM_RUN, the PVM emulator's register reads). */
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
KVM_VCPU_ACCESSOR_(set_cpuid2, KVM_SET_CPUID2, const struct kvm_cpuid2)
KVM_VCPU_ACCESSOR_(translate, KVM_TRANSLATE, struct kvm_translation)
#undef KVM_VCPU_ACCESSOR_

/* VM-wide state. */
static inline int kvm_get_irqchip(struct kvm *kvm, struct kvm_irqchip *c) { return kvm_ioctl_(kvm->vm_fd, KVM_GET_IRQCHIP, c); }
static inline int kvm_get_dirty_log(struct kvm *kvm, struct kvm_dirty_log *l) { return kvm_ioctl_(kvm->vm_fd, KVM_GET_DIRTY_LOG, l); }
static inline int kvm_clear_dirty_log(struct kvm *kvm, struct kvm_clear_dirty_log *c)
{
	return kvm_ioctl_(kvm->vm_fd, KVM_CLEAR_DIRTY_LOG, c);
}

#endif
