/* The saved form of a vCPU's state and of the VM-wide in-kernel devices (sections CPU and
 * KVM, docs/snapshots.md): KVM's structs field by field, fixed widths, little-endian, their
 * padding and reserved words left out. The XSAVE image and the local APIC page are written
 * as the bytes they are (architectural layouts, not C structs). get fills a zeroed struct;
 * truncated or oversized input, or counts above the struct's room, are -EINVAL and why. */
#ifndef PETREL_ARCH_X86_CPU_STATE_CODEC_H
#define PETREL_ARCH_X86_CPU_STATE_CODEC_H

#include "arch/x86/cpu_state.h"
#include "util/codec.h"

void cpu_state_put(struct enc *e, const struct cpu_state *s);
int cpu_state_decode(struct dec *d, struct cpu_state *s, char *err, size_t errlen);
void vm_kvm_state_put(struct enc *e, const struct vm_kvm_state *s);
int vm_kvm_state_decode(struct dec *d, struct vm_kvm_state *s, char *err, size_t errlen);

#endif
