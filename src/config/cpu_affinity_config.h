/* The "cpu-affinity" section of a config file and petrel's --cpu-affinity option: which host
 * CPUs the vCPU threads, the I/O thread and the other VMM threads run on. A petrel extension
 * (Firecracker has none); the shape follows Cloud Hypervisor's `affinity` list. See
 * util/affinity.h for how it is applied and docs/user-guide.md#cpu-affinity. */
#ifndef PETREL_CONFIG_CPU_AFFINITY_CONFIG_H
#define PETREL_CONFIG_CPU_AFFINITY_CONFIG_H

#include "util/affinity.h"

#include <jansson.h>
#include <stddef.h>

/* {"vcpus": [{"vcpu": 0, "host_cpus": [2, 3]}, ...], "io_thread": [4], "vmm_threads": [4, 5]},
 * every key optional. Strict: unknown keys, wrong types, CPUs above AFFINITY_MAX_CPU, vCPUs
 * at or above VM_MAX_VCPUS, a vCPU listed twice, empty lists: -EINVAL, "where.key: ...".
 * *out is overwritten on success only. Host CPUs are checked later (affinity_check). */
int cpu_affinity_from_json(json_t *obj, const char *where, struct cpu_affinity *out, char *err,
			   size_t errlen);
/* The same document back (only what is set). NULL on allocation failure. */
json_t *cpu_affinity_to_json(const struct cpu_affinity *a);

/* --cpu-affinity SPEC: a comma-separated list of WHO@[CPUS], WHO a vCPU number, "io" or "vmm",
 * CPUS a cpulist ("0-3,6"), the whole optionally in brackets:
 *     --cpu-affinity [0@[2],1@[3],io@[4],vmm@[4-5]]
 * Entries are added to *a (replacing what it said for the same WHO), so the option overrides
 * a config file entry by entry. -EINVAL with a message; *a is unchanged on error. */
int cpu_affinity_from_cli(const char *spec, struct cpu_affinity *a, char *err, size_t errlen);

#endif
