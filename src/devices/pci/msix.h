/* MSI-X for a PCI function: the capability, the vector table and pending-bit array (in a
 * BAR), and delivery through KVM irqfds whose GSIs are routed to the vectors' messages.
 *
 * Masked vectors (or the whole function masked) latch a pending bit instead of firing; the
 * message fires when the vector is unmasked. The caller serializes all calls (the device lock).
 */
#ifndef PETREL_DEVICES_PCI_MSIX_H
#define PETREL_DEVICES_PCI_MSIX_H

#include "devices/pci/pci.h"

#include <stdbool.h>
#include <stdint.h>

struct kvm;
struct kvm_routes;

#define MSIX_MAX_VECTORS 64
#define MSIX_ENTRY_SIZE 16
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_MASKALL 0x4000
#define MSIX_VECTOR_MASKED 0x1

/* Guest-visible MSI-X state. */
struct msix_state {
	bool enabled, masked;        /* message control bits */
	struct {
		uint32_t addr_lo, addr_hi, data, ctrl;
	} table[MSIX_MAX_VECTORS];
	uint64_t pba;                /* pending bits */
};

struct msix {
	struct msix_state st;
	unsigned nvec;
	struct pci_device *pdev;
	uint8_t cap;                 /* capability offset in config space */
	struct kvm *kvm;
	struct kvm_routes *routes;
	uint32_t gsi[MSIX_MAX_VECTORS];
	int irqfd[MSIX_MAX_VECTORS];
	bool routed[MSIX_MAX_VECTORS];
	uint64_t fired, latched;     /* statistics */
};

/* Add the capability (table at `table_off`, PBA at `pba_off`, both in BAR `bar`) and one
 * irqfd + GSI per vector. */
int msix_init(struct msix *m, struct pci_device *pdev, unsigned nvec, int bar, uint32_t table_off,
	      uint32_t pba_off, struct kvm *kvm, struct kvm_routes *routes);
void msix_destroy(struct msix *m);
/* Accesses inside the table / PBA (offset from their start). */
void msix_table_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len);
void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, uint32_t len);
void msix_pba_read(struct msix *m, uint64_t off, uint8_t *data, uint32_t len);
/* Call after a configuration write that may have touched the message control word. */
void msix_config_written(struct msix *m, uint32_t off, uint32_t len);
bool msix_enabled(const struct msix *m);
/* Load saved MSI-X state (after the configuration space, whose control word it must agree
 * with): routes every live vector and delivers what was pending. -EINVAL if it names vectors
 * this function does not have. */
int msix_restore(struct msix *m, const struct msix_state *st, char *err, size_t errlen);
/* The machine's reset: disabled, every vector masked with no message, nothing pending. */
void msix_reset(struct msix *m);
/* Fire vector v (or latch it pending if masked). Out-of-range vectors are ignored. */
void msix_notify(struct msix *m, unsigned v);

#endif
