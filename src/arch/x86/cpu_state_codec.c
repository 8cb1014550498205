/* vCPU and in-kernel device state, field by field (cpu_state_codec.h). Each put has its get
 * right after it, in the same order: the two must stay mirror images. */
#include "arch/x86/cpu_state_codec.h"
#include "util/error.h"

#include <errno.h>
#include <string.h>

/* ---- vCPU ---- */

static void regs_put(struct enc *e, const struct kvm_regs *r)
{
	const uint64_t v[] = { r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp, r->r8, r->r9,
			       r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip, r->rflags };
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		put_u64(e, v[i]);
}

static void regs_get(struct dec *d, struct kvm_regs *r)
{
	__u64 *v[] = { &r->rax, &r->rbx, &r->rcx, &r->rdx, &r->rsi, &r->rdi, &r->rsp, &r->rbp, &r->r8, &r->r9,
			  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15, &r->rip, &r->rflags };
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		*v[i] = get_u64(d);
}

static void seg_put(struct enc *e, const struct kvm_segment *s)
{
	put_u64(e, s->base);
	put_u32(e, s->limit);
	put_u16(e, s->selector);
	const uint8_t b[] = { s->type, s->present, s->dpl, s->db, s->s, s->l, s->g, s->avl, s->unusable };
	put_bytes(e, b, sizeof(b));
}

static void seg_get(struct dec *d, struct kvm_segment *s)
{
	s->base = get_u64(d);
	s->limit = get_u32(d);
	s->selector = get_u16(d);
	uint8_t *b[] = { &s->type, &s->present, &s->dpl, &s->db, &s->s, &s->l, &s->g, &s->avl, &s->unusable };
	for (unsigned i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		*b[i] = get_u8(d);
}

static void sregs_put(struct enc *e, const struct kvm_sregs *s)
{
	const struct kvm_segment *seg[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt };
	for (unsigned i = 0; i < 8; i++)
		seg_put(e, seg[i]);
	put_u64(e, s->gdt.base);
	put_u16(e, s->gdt.limit);
	put_u64(e, s->idt.base);
	put_u16(e, s->idt.limit);
	const uint64_t v[] = { s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer, s->apic_base };
	for (unsigned i = 0; i < 7; i++)
		put_u64(e, v[i]);
	for (unsigned i = 0; i < 4; i++)
		put_u64(e, s->interrupt_bitmap[i]);
}

static void sregs_get(struct dec *d, struct kvm_sregs *s)
{
	struct kvm_segment *seg[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs, &s->ss, &s->tr, &s->ldt };
	for (unsigned i = 0; i < 8; i++)
		seg_get(d, seg[i]);
	s->gdt.base = get_u64(d);
	s->gdt.limit = get_u16(d);
	s->idt.base = get_u64(d);
	s->idt.limit = get_u16(d);
	__u64 *v[] = { &s->cr0, &s->cr2, &s->cr3, &s->cr4, &s->cr8, &s->efer, &s->apic_base };
	for (unsigned i = 0; i < 7; i++)
		*v[i] = get_u64(d);
	for (unsigned i = 0; i < 4; i++)
		s->interrupt_bitmap[i] = get_u64(d);
}

static void events_put(struct enc *e, const struct kvm_vcpu_events *v)
{
	const uint8_t b[] = { v->exception.injected, v->exception.nr, v->exception.has_error_code,
			      v->exception.pending, v->interrupt.injected, v->interrupt.nr, v->interrupt.soft,
			      v->interrupt.shadow, v->nmi.injected, v->nmi.pending, v->nmi.masked, v->smi.smm,
			      v->smi.pending, v->smi.smm_inside_nmi, v->smi.latched_init, v->triple_fault.pending,
			      v->exception_has_payload };
	put_bytes(e, b, sizeof(b));
	put_u32(e, v->exception.error_code);
	put_u32(e, v->sipi_vector);
	put_u32(e, v->flags);
	put_u64(e, v->exception_payload);
}

static void events_get(struct dec *d, struct kvm_vcpu_events *v)
{
	uint8_t *b[] = { &v->exception.injected, &v->exception.nr, &v->exception.has_error_code,
			 &v->exception.pending, &v->interrupt.injected, &v->interrupt.nr, &v->interrupt.soft,
			 &v->interrupt.shadow, &v->nmi.injected, &v->nmi.pending, &v->nmi.masked, &v->smi.smm,
			 &v->smi.pending, &v->smi.smm_inside_nmi, &v->smi.latched_init, &v->triple_fault.pending,
			 &v->exception_has_payload };
	for (unsigned i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		*b[i] = get_u8(d);
	v->exception.error_code = get_u32(d);
	v->sipi_vector = get_u32(d);
	v->flags = get_u32(d);
	v->exception_payload = get_u64(d);
}

void cpu_state_put(struct enc *e, const struct cpu_state *s)
{
	regs_put(e, &s->regs);
	sregs_put(e, &s->sregs);
	put_bytes(e, s->xsave.region, sizeof(s->xsave.region));
	put_u32(e, s->xcrs.nr_xcrs);
	put_u32(e, s->xcrs.flags);
	for (unsigned i = 0; i < s->xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
		put_u32(e, s->xcrs.xcrs[i].xcr);
		put_u64(e, s->xcrs.xcrs[i].value);
	}
	put_bytes(e, s->lapic.regs, sizeof(s->lapic.regs));
	put_u32(e, s->mp_state.mp_state);
	events_put(e, &s->events);
	for (unsigned i = 0; i < 4; i++)
		put_u64(e, s->debugregs.db[i]);
	put_u64(e, s->debugregs.dr6);
	put_u64(e, s->debugregs.dr7);
	put_u64(e, s->debugregs.flags);
	put_u32(e, s->nmsrs);
	for (unsigned i = 0; i < s->nmsrs && i < CPU_STATE_MAX_MSRS; i++) {
		put_u32(e, s->msrs[i].index);
		put_u64(e, s->msrs[i].data);
	}
}

int cpu_state_decode(struct dec *d, struct cpu_state *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	regs_get(d, &s->regs);
	sregs_get(d, &s->sregs);
	get_bytes(d, s->xsave.region, sizeof(s->xsave.region));
	s->xcrs.nr_xcrs = get_u32(d);
	s->xcrs.flags = get_u32(d);
	if (!d->err && s->xcrs.nr_xcrs > KVM_MAX_XCRS)
		return error_set(err, errlen, -EINVAL, "vCPU state: %u XCRs (at most %u)", s->xcrs.nr_xcrs,
				 KVM_MAX_XCRS);
	for (unsigned i = 0; i < s->xcrs.nr_xcrs; i++) {
		s->xcrs.xcrs[i].xcr = get_u32(d);
		s->xcrs.xcrs[i].value = get_u64(d);
	}
	get_bytes(d, s->lapic.regs, sizeof(s->lapic.regs));
	s->mp_state.mp_state = get_u32(d);
	events_get(d, &s->events);
	for (unsigned i = 0; i < 4; i++)
		s->debugregs.db[i] = get_u64(d);
	s->debugregs.dr6 = get_u64(d);
	s->debugregs.dr7 = get_u64(d);
	s->debugregs.flags = get_u64(d);
	s->nmsrs = get_u32(d);
	if (!d->err && s->nmsrs > CPU_STATE_MAX_MSRS)
		return error_set(err, errlen, -EINVAL, "vCPU state: %u MSRs (at most %u)", s->nmsrs,
				 CPU_STATE_MAX_MSRS);
	for (unsigned i = 0; i < s->nmsrs; i++) {
		s->msrs[i].index = get_u32(d);
		s->msrs[i].data = get_u64(d);
	}
	return dec_end(d, "vCPU state (CPU)", err, errlen);
}

/* ---- PIC, IOAPIC, PIT, kvmclock ---- */

static void pic_put(struct enc *e, const struct kvm_pic_state *p)
{
	const uint8_t b[] = { p->last_irr, p->irr, p->imr, p->isr, p->priority_add, p->irq_base,
			      p->read_reg_select, p->poll, p->special_mask, p->init_state, p->auto_eoi,
			      p->rotate_on_auto_eoi, p->special_fully_nested_mode, p->init4, p->elcr, p->elcr_mask };
	put_bytes(e, b, sizeof(b));
}

static void pic_get(struct dec *d, struct kvm_pic_state *p)
{
	uint8_t *b[] = { &p->last_irr, &p->irr, &p->imr, &p->isr, &p->priority_add, &p->irq_base,
			 &p->read_reg_select, &p->poll, &p->special_mask, &p->init_state, &p->auto_eoi,
			 &p->rotate_on_auto_eoi, &p->special_fully_nested_mode, &p->init4, &p->elcr, &p->elcr_mask };
	for (unsigned i = 0; i < sizeof(b) / sizeof(b[0]); i++)
		*b[i] = get_u8(d);
}

static void ioapic_put(struct enc *e, const struct kvm_ioapic_state *a)
{
	put_u64(e, a->base_address);
	put_u32(e, a->ioregsel);
	put_u32(e, a->id);
	put_u32(e, a->irr);
	for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		put_u64(e, a->redirtbl[i].bits);
}

static void ioapic_get(struct dec *d, struct kvm_ioapic_state *a)
{
	a->base_address = get_u64(d);
	a->ioregsel = get_u32(d);
	a->id = get_u32(d);
	a->irr = get_u32(d);
	for (unsigned i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		a->redirtbl[i].bits = get_u64(d);
}

static void pit_put(struct enc *e, const struct kvm_pit_state2 *p)
{
	for (unsigned i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &p->channels[i];
		put_u32(e, c->count);
		put_u16(e, c->latched_count);
		const uint8_t b[] = { c->count_latched, c->status_latched, c->status, c->read_state, c->write_state,
				      c->write_latch, c->rw_mode, c->mode, c->bcd, c->gate };
		put_bytes(e, b, sizeof(b));
		put_u64(e, (uint64_t)c->count_load_time);
	}
	put_u32(e, p->flags);
}

static void pit_get(struct dec *d, struct kvm_pit_state2 *p)
{
	for (unsigned i = 0; i < 3; i++) {
		struct kvm_pit_channel_state *c = &p->channels[i];
		c->count = get_u32(d);
		c->latched_count = get_u16(d);
		uint8_t *b[] = { &c->count_latched, &c->status_latched, &c->status, &c->read_state, &c->write_state,
				 &c->write_latch, &c->rw_mode, &c->mode, &c->bcd, &c->gate };
		for (unsigned k = 0; k < sizeof(b) / sizeof(b[0]); k++)
			*b[k] = get_u8(d);
		c->count_load_time = (int64_t)get_u64(d);
	}
	p->flags = get_u32(d);
}

void vm_kvm_state_put(struct enc *e, const struct vm_kvm_state *s)
{
	pic_put(e, &s->pic_master.chip.pic);
	pic_put(e, &s->pic_slave.chip.pic);
	ioapic_put(e, &s->ioapic.chip.ioapic);
	pit_put(e, &s->pit);
	put_u64(e, s->clock.clock);
	put_u32(e, s->clock.flags);
	put_u64(e, s->clock.realtime);
	put_u64(e, s->clock.host_tsc);
}

int vm_kvm_state_decode(struct dec *d, struct vm_kvm_state *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	pic_get(d, &s->pic_master.chip.pic);
	pic_get(d, &s->pic_slave.chip.pic);
	ioapic_get(d, &s->ioapic.chip.ioapic);
	pit_get(d, &s->pit);
	s->clock.clock = get_u64(d);
	s->clock.flags = get_u32(d);
	s->clock.realtime = get_u64(d);
	s->clock.host_tsc = get_u64(d);
	return dec_end(d, "interrupt controllers and clock (KVM)", err, errlen);
}
