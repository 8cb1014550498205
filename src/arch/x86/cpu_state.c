#include "arch/x86/cpu_state.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

int cpu_msr_list(int kvm_fd, int vcpu_fd, struct msr_list *out)
{
	struct {
		struct kvm_msr_list hdr;
		uint32_t idx[1024];
	} l = { .hdr.nmsrs = 1024 };
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &l) < 0)
		return -errno;
	out->n = 0;
	for (uint32_t i = 0; i < l.hdr.nmsrs && i < 1024; i++) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e;
		} m = { .hdr.nmsrs = 1, .e.index = l.idx[i] };
		if (ioctl(vcpu_fd, KVM_GET_MSRS, &m) != 1)
			continue; /* listed but not readable on this vCPU (feature not exposed) */
		if (out->n == CPU_STATE_MAX_MSRS) {
			log_warn("more than %d saveable MSRs; the rest are not saved", CPU_STATE_MAX_MSRS);
			break;
		}
		out->index[out->n++] = l.idx[i];
	}
	return 0;
}

static int get_msrs(int fd, const struct msr_list *l, struct cpu_state *s)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + l->n * sizeof(struct kvm_msr_entry));
	if (!m)
		return -ENOMEM;
	m->nmsrs = l->n;
	for (uint32_t i = 0; i < l->n; i++)
		m->entries[i].index = l->index[i];
	int r = ioctl(fd, KVM_GET_MSRS, m);
	int err = r < 0 ? -errno : (uint32_t)r != l->n ? -EIO : 0;
	if (!err) {
		s->nmsrs = l->n;
		memcpy(s->msrs, m->entries, l->n * sizeof(struct kvm_msr_entry));
	}
	free(m);
	return err;
}

int cpu_state_get(int fd, const struct msr_list *msrs, struct cpu_state *s)
{
	memset(s, 0, sizeof(*s));
	/* The MP state first: for a vCPU that has pending INIT/SIPI KVM settles it on read. */
	if (ioctl(fd, KVM_GET_MP_STATE, &s->mp_state) < 0 || ioctl(fd, KVM_GET_REGS, &s->regs) < 0 ||
	    ioctl(fd, KVM_GET_SREGS, &s->sregs) < 0 || ioctl(fd, KVM_GET_XSAVE, &s->xsave) < 0 ||
	    ioctl(fd, KVM_GET_XCRS, &s->xcrs) < 0 || ioctl(fd, KVM_GET_LAPIC, &s->lapic) < 0 ||
	    ioctl(fd, KVM_GET_VCPU_EVENTS, &s->events) < 0 ||
	    ioctl(fd, KVM_GET_DEBUGREGS, &s->debugregs) < 0)
		return -errno;
	return get_msrs(fd, msrs, s);
}

int cpu_state_check(const struct cpu_state *s, char *err, size_t errlen)
{
	if (s->nmsrs > CPU_STATE_MAX_MSRS) {
		snprintf(err, errlen, "vCPU state lists %u MSRs, at most %d", s->nmsrs, CPU_STATE_MAX_MSRS);
		return -EINVAL;
	}
	if (s->xcrs.nr_xcrs > KVM_MAX_XCRS) {
		snprintf(err, errlen, "vCPU state lists %u XCRs, at most %d", s->xcrs.nr_xcrs, KVM_MAX_XCRS);
		return -EINVAL;
	}
	if (s->mp_state.mp_state > KVM_MP_STATE_AP_RESET_HOLD) {
		snprintf(err, errlen, "vCPU state has an unknown MP state %u", s->mp_state.mp_state);
		return -EINVAL;
	}
	return 0;
}

static int set(int fd, unsigned long req, const void *arg, const char *what, char *err, size_t errlen)
{
	if (ioctl(fd, req, arg) >= 0)
		return 0;
	int e = -errno;
	snprintf(err, errlen, "KVM refused the saved %s: %s", what, strerror(errno));
	return e;
}

/* The TSC deadline is relative to the TSC: set it after the TSC itself. */
static int msr_rank(uint32_t index)
{
	return index == MSR_IA32_TSC ? 0 : index == MSR_IA32_TSC_DEADLINE ? 2 : 1;
}

static int set_msrs(int fd, const struct cpu_state *s, char *err, size_t errlen)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + s->nmsrs * sizeof(struct kvm_msr_entry));
	if (!m)
		return -ENOMEM;
	for (int rank = 0; rank <= 2; rank++)
		for (uint32_t i = 0; i < s->nmsrs; i++)
			if (msr_rank(s->msrs[i].index) == rank)
				m->entries[m->nmsrs++] = s->msrs[i];
	int r = ioctl(fd, KVM_SET_MSRS, m);
	int e = 0;
	if (r < 0) {
		e = -errno;
		snprintf(err, errlen, "KVM_SET_MSRS: %s", strerror(errno));
	} else if ((uint32_t)r != m->nmsrs) {
		e = -EINVAL;
		snprintf(err, errlen, "KVM refused saved MSR %#x (%u of %u set)",
			 m->entries[r].index, (unsigned)r, m->nmsrs);
	}
	free(m);
	return e;
}

int cpu_state_set(int fd, const struct cpu_state *s, char *err, size_t errlen)
{
	int e = cpu_state_check(s, err, errlen);
	if (e < 0)
		return e;
	/* Firecracker's and Cloud Hypervisor's order: the APIC base (in sregs) before the LAPIC,
	 * MSRs after both, pending events last. */
	if ((e = set(fd, KVM_SET_MP_STATE, &s->mp_state, "MP state", err, errlen)) < 0 ||
	    (e = set(fd, KVM_SET_REGS, &s->regs, "registers", err, errlen)) < 0 ||
	    (e = set(fd, KVM_SET_SREGS, &s->sregs, "segment/control registers", err, errlen)) < 0 ||
	    (e = set(fd, KVM_SET_XSAVE, &s->xsave, "FPU/vector state", err, errlen)) < 0 ||
	    (e = set(fd, KVM_SET_XCRS, &s->xcrs, "XCRs", err, errlen)) < 0 ||
	    (e = set(fd, KVM_SET_DEBUGREGS, &s->debugregs, "debug registers", err, errlen)) < 0 ||
	    (e = set(fd, KVM_SET_LAPIC, &s->lapic, "local APIC", err, errlen)) < 0 ||
	    (e = set_msrs(fd, s, err, errlen)) < 0)
		return e;
	struct kvm_vcpu_events ev = s->events;
	ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		    KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
		    KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	return set(fd, KVM_SET_VCPU_EVENTS, &ev, "pending events", err, errlen);
}

int vm_kvm_state_get(int vm_fd, struct vm_kvm_state *s)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_master) < 0 ||
	    ioctl(vm_fd, KVM_GET_IRQCHIP, &s->pic_slave) < 0 ||
	    ioctl(vm_fd, KVM_GET_IRQCHIP, &s->ioapic) < 0 || ioctl(vm_fd, KVM_GET_PIT2, &s->pit) < 0 ||
	    ioctl(vm_fd, KVM_GET_CLOCK, &s->clock) < 0)
		return -errno;
	return 0;
}

int vm_kvm_state_check(const struct vm_kvm_state *s, char *err, size_t errlen)
{
	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER || s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
	    s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC) {
		snprintf(err, errlen, "interrupt controller state names the wrong chips");
		return -EINVAL;
	}
	return 0;
}

int vm_kvm_state_set(int vm_fd, const struct vm_kvm_state *s, bool realtime, char *err, size_t errlen)
{
	int e = vm_kvm_state_check(s, err, errlen);
	if (e < 0)
		return e;
	if ((e = set(vm_fd, KVM_SET_IRQCHIP, &s->pic_master, "PIC (master)", err, errlen)) < 0 ||
	    (e = set(vm_fd, KVM_SET_IRQCHIP, &s->pic_slave, "PIC (slave)", err, errlen)) < 0 ||
	    (e = set(vm_fd, KVM_SET_IRQCHIP, &s->ioapic, "IOAPIC", err, errlen)) < 0 ||
	    (e = set(vm_fd, KVM_SET_PIT2, &s->pit, "PIT", err, errlen)) < 0)
		return e;
	/* Only the clock value is ours to set; with realtime (and a host that records it) KVM
	 * adds the real time that passed since the save, so the guest's clock is right after a
	 * restore hours later. */
	struct kvm_clock_data c = { .clock = s->clock.clock };
	if (realtime && (s->clock.flags & KVM_CLOCK_REALTIME)) {
		c.flags = KVM_CLOCK_REALTIME;
		c.realtime = s->clock.realtime;
	}
	return set(vm_fd, KVM_SET_CLOCK, &c, "kvmclock", err, errlen);
}

uint32_t lapic_reg(const struct kvm_lapic_state *l, unsigned off)
{
	uint32_t v;
	memcpy(&v, &l->regs[off], sizeof(v));
	return v;
}

int lapic_highest_vector(const struct kvm_lapic_state *l, unsigned map)
{
	for (int v = 255; v >= 0; v--)
		if (lapic_reg(l, map + 0x10 * (unsigned)(v >> 5)) >> (v & 31) & 1)
			return v;
	return -1;
}
