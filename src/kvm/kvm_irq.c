#include "kvm/kvm_irq.h"
#include "util/log.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, uint32_t len, bool pio, bool has_data,
		  uint64_t data, bool assign)
{
	struct kvm_ioeventfd e = {
		.datamatch = has_data ? data : 0, .addr = addr, .len = len, .fd = fd,
		.flags = (has_data ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) | (assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN),
	};
	if (ioctl(kvm->vm_fd, KVM_IOEVENTFD, &e) < 0) {
		int err = -errno;
		log_error("KVM_IOEVENTFD %s 0x%llx len %u: %s", assign ? "assign" : "deassign",
			  (unsigned long long)addr, len, strerror(errno));
		return err;
	}
	return 0;
}

int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd i = { .fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };
	if (ioctl(kvm->vm_fd, KVM_IRQFD, &i) < 0) {
		int err = -errno;
		log_error("KVM_IRQFD %s GSI %u: %s", assign ? "assign" : "deassign", gsi, strerror(errno));
		return err;
	}
	return 0;
}

int kvm_signal_msi(struct kvm *kvm, uint32_t addr_lo, uint32_t addr_hi, uint32_t data)
{
	struct kvm_msi m = { .address_lo = addr_lo, .address_hi = addr_hi, .data = data };
	return ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, &m) < 0 ? -errno : 0;
}

static int commit(struct kvm_routes *r);

int kvm_routes_init(struct kvm_routes *r, struct kvm *kvm)
{
	memset(r, 0, offsetof(struct kvm_routes, msi));
	r->kvm = kvm;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_lock(&r->lock);
	int err = commit(r); /* the irqchip routes, before any device raises a line */
	pthread_mutex_unlock(&r->lock);
	return err;
}

void kvm_routes_destroy(struct kvm_routes *r)
{
	pthread_mutex_destroy(&r->lock);
}

int kvm_routes_alloc_msi(struct kvm_routes *r, uint32_t *gsi)
{
	pthread_mutex_lock(&r->lock);
	if (r->nmsi == KVM_ROUTES_MAX) {
		pthread_mutex_unlock(&r->lock);
		return -ENOSPC;
	}
	memset(&r->msi[r->nmsi], 0, sizeof(r->msi[0]));   /* not valid until set */
	*gsi = KVM_MSI_GSI_BASE + r->nmsi++;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* Called with r->lock held. */
static int commit(struct kvm_routes *r)
{
	unsigned max = 16 + KVM_IOAPIC_PINS + r->nmsi;
	struct kvm_irq_routing *t = calloc(1, sizeof(*t) + max * sizeof(t->entries[0]));
	if (!t)
		return -ENOMEM;
	unsigned n = 0;
	/* A PC's wiring: GSI 0-15 to the 8259s (pin 2 of the master is the cascade), and to the
	 * IOAPIC pin of the same number except ISA IRQ 0, the PIT, which is wired to pin 2 as
	 * the MADT's interrupt source override says. KVM's own default table sends GSI 0 to pin
	 * 0: a guest whose local APIC timer is unusable then takes its ticks from a pin that
	 * never fires and waits forever in its first sleep (seen: a Linux guest under nested
	 * KVM, its APIC timer failed calibration). */
	for (uint32_t g = 0; g < 16; g++) {
		if (g == 2)
			continue;
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = g, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = g < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, .pin = g % 8 } };
	}
	for (uint32_t g = 0; g < KVM_IOAPIC_PINS; g++) {
		if (g == 2)
			continue;
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = g, .type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = g == 0 ? KVM_PIT_IOAPIC_PIN : g } };
	}
	for (unsigned i = 0; i < r->nmsi; i++) {
		if (!r->msi[i].valid)
			continue;
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = KVM_MSI_GSI_BASE + i, .type = KVM_IRQ_ROUTING_MSI,
			.u.msi = { .address_lo = r->msi[i].addr_lo, .address_hi = r->msi[i].addr_hi,
				   .data = r->msi[i].data } };
	}
	t->nr = n;
	int err = 0;
	if (ioctl(r->kvm->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
		err = -errno;
		log_error("KVM_SET_GSI_ROUTING (%u routes): %s", n, strerror(errno));
	}
	free(t);
	return err;
}

int kvm_routes_set_msi(struct kvm_routes *r, uint32_t gsi, bool valid, uint32_t addr_lo,
		       uint32_t addr_hi, uint32_t data)
{
	if (gsi < KVM_MSI_GSI_BASE)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	unsigned i = gsi - KVM_MSI_GSI_BASE;
	if (i >= r->nmsi) {
		pthread_mutex_unlock(&r->lock);
		return -EINVAL;
	}
	if (r->msi[i].valid == valid && (!valid || (r->msi[i].addr_lo == addr_lo &&
						    r->msi[i].addr_hi == addr_hi && r->msi[i].data == data))) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	r->msi[i].valid = valid;
	r->msi[i].addr_lo = addr_lo;
	r->msi[i].addr_hi = addr_hi;
	r->msi[i].data = data;
	int err = commit(r);
	pthread_mutex_unlock(&r->lock);
	return err;
}
