#include "vcpu/exit_stats.h"

#include <inttypes.h>
#include <string.h>

static const char *const names[EXIT_KIND_COUNT] = {
	[EXIT_IO_IN] = "io-in", [EXIT_IO_OUT] = "io-out", [EXIT_MMIO_READ] = "mmio-read",
	[EXIT_MMIO_WRITE] = "mmio-write", [EXIT_HLT] = "hlt", [EXIT_SHUTDOWN] = "shutdown",
	[EXIT_EMULATED] = "emulated-insn", [EXIT_MSR] = "msr", [EXIT_INTR] = "interrupted",
	[EXIT_SYSTEM_EVENT] = "system-event", [EXIT_OTHER] = "other",
};

const char *exit_kind_name(enum exit_kind k)
{
	return k < EXIT_KIND_COUNT ? names[k] : "?";
}

/* A vCPU's counters have one writer (the vCPU) and are read by the metrics while it runs:
 * relaxed atomic stores and loads (plain moves on x86-64), never a torn or invented value. */
static uint64_t get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static uint64_t bump(uint64_t *p, uint64_t n)
{
	uint64_t v = get(p) + n;
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
	return v;
}

void exit_stats_add(struct exit_stats *s, enum exit_kind k, uint64_t ns)
{
	bump(&s->count[k], 1);
	bump(&s->handle_ns[k], ns);
}

void exit_stats_add_run(struct exit_stats *s, uint64_t ns)
{
	bump(&s->run_ns, ns);
}

void exit_stats_add_coalesced(struct exit_stats *s, uint64_t n)
{
	if (n)
		bump(&s->coalesced, n);
}

/* into's names are only ever set, once each, by into's own writer */
static uint64_t emulated_add(struct exit_stats *s, const char *name, uint64_t n)
{
	for (int i = 0; i < EMU_STAT_MAX; i++) {
		const char *have = __atomic_load_n(&s->emu_name[i], __ATOMIC_ACQUIRE);
		if (!have)
			__atomic_store_n(&s->emu_name[i], have = name, __ATOMIC_RELEASE);
		if (strcmp(have, name) == 0)
			return bump(&s->emu_count[i], n);
	}
	return 0;
}

uint64_t exit_stats_emulated(struct exit_stats *s, const char *name)
{
	return emulated_add(s, name, 1);
}

void exit_stats_merge(struct exit_stats *into, const struct exit_stats *from)
{
	for (int k = 0; k < EXIT_KIND_COUNT; k++) {
		into->count[k] += get(&from->count[k]);
		into->handle_ns[k] += get(&from->handle_ns[k]);
	}
	into->run_ns += get(&from->run_ns);
	into->coalesced += get(&from->coalesced);
	for (int i = 0; i < EMU_STAT_MAX; i++) {
		const char *name = __atomic_load_n(&from->emu_name[i], __ATOMIC_ACQUIRE);
		if (!name)
			break;
		emulated_add(into, name, get(&from->emu_count[i]));
	}
}

void exit_stats_print(const struct exit_stats *s, uint64_t wall_ns, FILE *out)
{
	uint64_t total = 0, total_ns = 0;
	fprintf(out, "petrel exit statistics (wall %.3f s, in KVM_RUN %.3f s summed over vCPUs)\n",
		(double)wall_ns / 1e9, (double)s->run_ns / 1e9);
	fprintf(out, "  %-14s %12s %14s %12s\n", "exit", "count", "handling ms", "avg ns");
	for (int k = 0; k < EXIT_KIND_COUNT; k++) {
		if (!s->count[k])
			continue;
		total += s->count[k];
		total_ns += s->handle_ns[k];
		fprintf(out, "  %-14s %12" PRIu64 " %14.3f %12" PRIu64 "\n", names[k], s->count[k],
			(double)s->handle_ns[k] / 1e6, s->handle_ns[k] / s->count[k]);
	}
	fprintf(out, "  %-14s %12" PRIu64 " %14.3f\n", "total", total, (double)total_ns / 1e6);
	if (s->coalesced)
		fprintf(out, "  %-14s %12" PRIu64 " writes replayed without an exit\n", "coalesced-mmio",
			s->coalesced);
	for (int i = 0; i < EMU_STAT_MAX && s->emu_name[i]; i++)
		fprintf(out, "  emulated %-10s %10" PRIu64 "\n", s->emu_name[i], s->emu_count[i]);
}
