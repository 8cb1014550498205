/* CPU templates: named sets of CPUID changes, and Firecracker-style custom templates
 * ("cpuid_modifiers" with 32-character bitmaps of 0/1/x) loaded from JSON. */
#ifndef PETREL_CONFIG_CPU_TEMPLATE_H
#define PETREL_CONFIG_CPU_TEMPLATE_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

enum cpuid_reg { CPUID_EAX = 0, CPUID_EBX, CPUID_ECX, CPUID_EDX };

/* Bits set in `mask` are forced to the matching bit of `value`; other bits keep the host's. */
struct cpuid_modifier {
	uint32_t leaf;
	uint32_t subleaf;
	bool any_subleaf;      /* flags bit 0 of KVM_CPUID_FLAG_SIGNIFCANT_INDEX clear */
	enum cpuid_reg reg;
	uint32_t mask;
	uint32_t value;
};

/* Bits set in `mask` are forced to the matching bit of `value` in MSR `addr`. */
struct msr_modifier {
	uint32_t addr;
	uint64_t mask;
	uint64_t value;
};

/* "kvm_capabilities" entry: "121" asks for capability 121, "!121" removes it. */
struct kvm_cap_modifier {
	uint32_t cap;
	bool remove;
};

struct cpu_template {
	char name[32];
	struct cpuid_modifier *mods;
	size_t nmods;
	struct msr_modifier *msrs;          /* parsed from custom templates; named ones have none */
	size_t nmsrs;
	struct kvm_cap_modifier *kvm_caps;
	size_t nkvm_caps;
};

struct kvm_cpuid_entry2;

/* The functions that fill `out` overwrite it without freeing what it held; free it with
 * cpu_template_free() (a zeroed struct is an empty template). */

/* Named templates: "None", "T2", "T2S", "C3", "T2CL", "T2A" (case-sensitive, as in
 * Firecracker's CpuTemplate enum). Returns 0, -ENOENT for an unknown name, or -ENOMEM. */
int cpu_template_named(const char *name, struct cpu_template *out);
/* Parse a Firecracker custom CPU template (JSON text). On error returns -EINVAL
 * and writes a message naming the bad field into err. */
int cpu_template_parse_json(const char *json, struct cpu_template *out, char *err, size_t errlen);
int cpu_template_load_file(const char *path, struct cpu_template *out, char *err, size_t errlen);
/* Add the modifiers of `extra` after those of `t` (later ones win). */
int cpu_template_append(struct cpu_template *t, const struct cpu_template *extra);
void cpu_template_free(struct cpu_template *t);
/* Apply the CPUID modifiers, in order, to a KVM CPUID table: a modifier touches an entry when
 * its leaf matches and it is any_subleaf or its subleaf equals entry->index. */
void cpu_template_apply(const struct cpu_template *t, struct kvm_cpuid_entry2 *entries, size_t n);

#endif
