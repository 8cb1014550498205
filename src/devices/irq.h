/* An interrupt line as a device sees it: raise/lower one GSI of the in-kernel irqchip. */
#ifndef PETREL_DEVICES_IRQ_H
#define PETREL_DEVICES_IRQ_H

#include "kvm/kvm.h"

struct irq_line {
	struct kvm *kvm;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *l, int level)
{
	if (l->kvm)
		kvm_irq_line(l->kvm, l->gsi, level);
}

#endif
