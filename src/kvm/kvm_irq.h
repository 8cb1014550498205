/* KVM's eventfd plumbing for devices: ioeventfds (a guest write to an address signals an
 * eventfd inside the kernel, no exit to user space) and irqfds (writing an eventfd raises a
 * GSI), plus the GSI routing table that points MSI GSIs at message address/data pairs. */
#ifndef PETREL_KVM_KVM_IRQ_H
#define PETREL_KVM_KVM_IRQ_H

#include "kvm/kvm.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* Register (assign=true) or remove an ioeventfd. pio: port I/O instead of MMIO. len is the
 * access size (1, 2, 4, 8). With has_data, only writes of exactly `data` signal. */
int kvm_ioeventfd(struct kvm *kvm, int fd, uint64_t addr, uint32_t len, bool pio, bool has_data,
		  uint64_t data, bool assign);
/* Attach (assign=true) or detach an eventfd to a GSI. */
int kvm_irqfd(struct kvm *kvm, int fd, uint32_t gsi, bool assign);

#define KVM_ROUTES_MAX 1024
#define KVM_IOAPIC_PINS 24
#define KVM_MSI_GSI_BASE 24   /* GSIs below are the irqchip pins */

#define KVM_PIT_IOAPIC_PIN 2  /* ISA IRQ 0 (the PIT): the MADT's interrupt source override */

/* The VM's GSI routing table: a PC's irqchip routes (PIC 0-15 but the cascade, IOAPIC 0-23 with
 * GSI 0 on pin 2) plus one MSI route per allocated GSI. Changing any route rewrites the whole
 * table (KVM's API). */
struct kvm_routes {
	struct kvm *kvm;
	pthread_mutex_t lock;
	unsigned nmsi;                          /* MSI GSIs handed out: 24 .. 24+nmsi-1 */
	/* Last, and only the first nmsi written (each as it is handed out): init does not clear
	 * 16 KiB that a VM with a few devices never uses. */
	struct {
		bool valid;
		uint32_t addr_lo, addr_hi, data;
	} msi[KVM_ROUTES_MAX];
};

/* Set up the irqchip routes (KVM_SET_GSI_ROUTING): 0 or -errno. */
int kvm_routes_init(struct kvm_routes *r, struct kvm *kvm);
void kvm_routes_destroy(struct kvm_routes *r);
/* A new GSI for an MSI source (not routed until kvm_routes_set_msi). -ENOSPC when full. */
int kvm_routes_alloc_msi(struct kvm_routes *r, uint32_t *gsi);
/* Point gsi at an MSI message (valid=true) or route it nowhere; commits the table. */
int kvm_routes_set_msi(struct kvm_routes *r, uint32_t gsi, bool valid, uint32_t addr_lo,
		       uint32_t addr_hi, uint32_t data);
/* Send one MSI directly (KVM_SIGNAL_MSI). */
int kvm_signal_msi(struct kvm *kvm, uint32_t addr_lo, uint32_t addr_hi, uint32_t data);

#endif
