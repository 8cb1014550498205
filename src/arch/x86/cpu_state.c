#include "arch/x86/cpu_state.h"
#include "kvm/kvm_vcpu.h"
#include "util/error.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MSR_IA32_TSC 0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0

/* KVM refuses more entries in one KVM_GET_MSRS (MAX_IO_MSRS). */
#define MSRS_PER_CALL 255

int cpu_msr_list(struct kvm *kvm, int vcpu_fd, struct msr_list *out)
{
	struct {
		struct kvm_msr_list hdr;
		uint32_t idx[1024];
	} l = { .hdr.nmsrs = 1024 };
	int e = kvm_get_msr_index_list(kvm, &l.hdr);
	if (e < 0)
		return e;
	uint32_t n = MIN(l.hdr.nmsrs, 1024u);
	struct kvm_msrs *m = calloc(1, sizeof(*m) + MSRS_PER_CALL * sizeof(struct kvm_msr_entry));
	if (!m)
		return -ENOMEM;
	/* Read in batches: KVM stops at the first MSR it refuses (listed, but not readable on this
	 * vCPU: a feature not exposed), which is left out, and the rest is asked again. One call per
	 * MSR cost a vCPU ioctl each, and every vCPU ioctl a read of a host MSR where the host is
	 * itself a guest (a PVM host: 40 of them were 0.1 ms of each start). */
	out->n = 0;
	for (uint32_t i = 0; i < n && out->n < CPU_STATE_MAX_MSRS;) {
		m->nmsrs = MIN(n - i, (uint32_t)MSRS_PER_CALL);
		for (uint32_t j = 0; j < m->nmsrs; j++)
			m->entries[j] = (struct kvm_msr_entry){ .index = l.idx[i + j] };
		int r = kvm_get_msrs(vcpu_fd, m);
		if (r < 0) {
			free(m);
			return r;
		}
		for (int j = 0; j < r; j++) {
			if (out->n == CPU_STATE_MAX_MSRS) {
				log_warn("more than %d saveable MSRs; the rest are not saved", CPU_STATE_MAX_MSRS);
				break;
			}
			out->index[out->n++] = l.idx[i + (uint32_t)j];
		}
		i += (uint32_t)r + ((uint32_t)r < m->nmsrs); /* past the refused one, if one was */
	}
	free(m);
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
	int r = kvm_get_msrs(fd, m);
	int err = r < 0 ? r : (uint32_t)r != l->n ? -EIO : 0;
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
	int e;
	if ((e = kvm_get_mp_state(fd, &s->mp_state)) < 0 || (e = kvm_get_regs(fd, &s->regs)) < 0 ||
	    (e = kvm_get_sregs(fd, &s->sregs)) < 0 || (e = kvm_get_xsave(fd, &s->xsave)) < 0 ||
	    (e = kvm_get_xcrs(fd, &s->xcrs)) < 0 || (e = kvm_get_lapic(fd, &s->lapic)) < 0 ||
	    (e = kvm_get_vcpu_events(fd, &s->events)) < 0 ||
	    (e = kvm_get_debugregs(fd, &s->debugregs)) < 0)
		return e;
	return get_msrs(fd, msrs, s);
}

int cpu_state_check(const struct cpu_state *s, char *err, size_t errlen)
{
	if (s->nmsrs > CPU_STATE_MAX_MSRS)
		return error_set(err, errlen, -EINVAL, "vCPU state lists %u MSRs, at most %d", s->nmsrs,
				 CPU_STATE_MAX_MSRS);
	if (s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		return error_set(err, errlen, -EINVAL, "vCPU state lists %u XCRs, at most %d",
				 s->xcrs.nr_xcrs, KVM_MAX_XCRS);
	if (s->mp_state.mp_state > KVM_MP_STATE_AP_RESET_HOLD)
		return error_set(err, errlen, -EINVAL, "vCPU state has an unknown MP state %u",
				 s->mp_state.mp_state);
	return 0;
}

/* r: what a kvm_set_* wrapper returned. */
static int set(int r, const char *what, char *err, size_t errlen)
{
	if (r >= 0)
		return 0;
	return error_set(err, errlen, r, "KVM refused the saved %s: %s", what, strerror(-r));
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
	int r = kvm_set_msrs(fd, m);
	int e = 0;
	if (r < 0)
		e = error_set(err, errlen, r, "KVM_SET_MSRS: %s", strerror(-r));
	else if ((uint32_t)r != m->nmsrs)
		e = error_set(err, errlen, -EINVAL, "KVM refused saved MSR %#x (%u of %u set)",
			      m->entries[r].index, (unsigned)r, m->nmsrs);
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
	if ((e = set(kvm_set_mp_state(fd, &s->mp_state), "MP state", err, errlen)) < 0 ||
	    (e = set(kvm_set_regs(fd, &s->regs), "registers", err, errlen)) < 0 ||
	    (e = set(kvm_set_sregs(fd, &s->sregs), "segment/control registers", err, errlen)) < 0 ||
	    (e = set(kvm_set_xsave(fd, &s->xsave), "FPU/vector state", err, errlen)) < 0 ||
	    (e = set(kvm_set_xcrs(fd, &s->xcrs), "XCRs", err, errlen)) < 0 ||
	    (e = set(kvm_set_debugregs(fd, &s->debugregs), "debug registers", err, errlen)) < 0 ||
	    (e = set(kvm_set_lapic(fd, &s->lapic), "local APIC", err, errlen)) < 0 ||
	    (e = set_msrs(fd, s, err, errlen)) < 0)
		return e;
	struct kvm_vcpu_events ev = s->events;
	ev.flags &= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		    KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
		    KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	return set(kvm_set_vcpu_events(fd, &ev), "pending events", err, errlen);
}

int vm_kvm_state_get(struct kvm *kvm, struct vm_kvm_state *s)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	int e;
	if ((e = kvm_get_irqchip(kvm, &s->pic_master)) < 0 || (e = kvm_get_irqchip(kvm, &s->pic_slave)) < 0 ||
	    (e = kvm_get_irqchip(kvm, &s->ioapic)) < 0 || (e = kvm_get_pit2(kvm, &s->pit)) < 0 ||
	    (e = kvm_get_clock(kvm, &s->clock)) < 0)
		return e;
	return 0;
}

int vm_kvm_state_check(const struct vm_kvm_state *s, char *err, size_t errlen)
{
	if (s->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
	    s->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE || s->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
		return error_set(err, errlen, -EINVAL, "interrupt controller state names the wrong chips");
	return 0;
}

int vm_kvm_chips_set(struct kvm *kvm, const struct vm_kvm_state *s, char *err, size_t errlen)
{
	int e = vm_kvm_state_check(s, err, errlen);
	if (e < 0)
		return e;
	if ((e = set(kvm_set_irqchip(kvm, &s->pic_master), "PIC (master)", err, errlen)) < 0 ||
	    (e = set(kvm_set_irqchip(kvm, &s->pic_slave), "PIC (slave)", err, errlen)) < 0 ||
	    (e = set(kvm_set_irqchip(kvm, &s->ioapic), "IOAPIC", err, errlen)) < 0 ||
	    (e = set(kvm_set_pit2(kvm, &s->pit), "PIT", err, errlen)) < 0)
		return e;
	return 0;
}

int vm_kvm_state_set(struct kvm *kvm, const struct vm_kvm_state *s, bool realtime, char *err, size_t errlen)
{
	int e = vm_kvm_chips_set(kvm, s, err, errlen);
	if (e < 0)
		return e;
	/* Only the clock value is ours to set; with realtime (and a host that records it) KVM
	 * adds the real time that passed since the save, so the guest's clock is right after a
	 * restore hours later. */
	struct kvm_clock_data c = { .clock = s->clock.clock };
	if (realtime && (s->clock.flags & KVM_CLOCK_REALTIME)) {
		c.flags = KVM_CLOCK_REALTIME;
		c.realtime = s->clock.realtime;
	}
	return set(kvm_set_clock(kvm, &c), "kvmclock", err, errlen);
}

void cpu_state_zero_tsc(struct cpu_state *s)
{
	for (uint32_t i = 0; i < s->nmsrs; i++)
		if (s->msrs[i].index == MSR_IA32_TSC)
			s->msrs[i].data = 0;
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
