/* Per-VM exit statistics: how often each kind of exit happened and how long petrel spent
 * handling it (KVM_RUN return to the next KVM_RUN). Each vCPU keeps its own, merged at the end. */
#ifndef PETREL_VCPU_EXIT_STATS_H
#define PETREL_VCPU_EXIT_STATS_H

#include <stdint.h>
#include <stdio.h>

enum exit_kind {
	EXIT_IO_IN, EXIT_IO_OUT, EXIT_MMIO_READ, EXIT_MMIO_WRITE, EXIT_HLT, EXIT_SHUTDOWN,
	EXIT_EMULATED, EXIT_MSR, EXIT_INTR, EXIT_SYSTEM_EVENT, EXIT_OTHER,
	EXIT_KIND_COUNT
};

#define EMU_STAT_MAX 16

struct exit_stats {
	uint64_t count[EXIT_KIND_COUNT];
	uint64_t handle_ns[EXIT_KIND_COUNT];
	uint64_t run_ns;        /* time inside KVM_RUN */
	/* guest writes this vCPU replayed from KVM's coalesced MMIO ring (kvm/kvm_coalesced.h):
	 * each one a write that made no exit. Any vCPU replays the VM's ring, whoever wrote. */
	uint64_t coalesced;
	/* instructions emulated for the host (PVM), by mnemonic */
	const char *emu_name[EMU_STAT_MAX];
	uint64_t emu_count[EMU_STAT_MAX];
};

const char *exit_kind_name(enum exit_kind k);
void exit_stats_add(struct exit_stats *s, enum exit_kind k, uint64_t ns);
/* Time spent in KVM_RUN. */
void exit_stats_add_run(struct exit_stats *s, uint64_t ns);
/* n coalesced MMIO writes replayed. */
void exit_stats_add_coalesced(struct exit_stats *s, uint64_t n);
/* Count one emulated instruction; returns the new count for that mnemonic. */
uint64_t exit_stats_emulated(struct exit_stats *s, const char *name);
void exit_stats_merge(struct exit_stats *into, const struct exit_stats *from);
void exit_stats_print(const struct exit_stats *s, uint64_t wall_ns, FILE *out);

#endif
