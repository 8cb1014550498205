/* CPU partitioning: which host CPUs petrel's threads run on (docs/user-guide.md#cpu-affinity).
 *
 * A placement says, for each vCPU, for the I/O thread and for the other VMM threads (API,
 * controller, migration, ...), the host CPUs they may run on. It is host policy, not part of
 * the guest: a snapshot or a migration stream never carries it, and the petrel that loads or
 * receives a VM applies its own (from its command line or config file). One petrel process
 * runs one VM, so the placement is the process's: set once, before the VM's threads start,
 * and read by thread_start() (util/thread.c) for every thread it makes. */
#ifndef PETREL_UTIL_AFFINITY_H
#define PETREL_UTIL_AFFINITY_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#define AFFINITY_MAX_VCPUS 256   /* >= VM_MAX_VCPUS (checked in config/cpu_affinity_config.c) */
#define AFFINITY_MAX_CPU (CPU_SETSIZE - 1)

struct cpu_affinity {
	bool has_vcpu[AFFINITY_MAX_VCPUS];
	cpu_set_t vcpu[AFFINITY_MAX_VCPUS];
	bool has_io, has_vmm;
	cpu_set_t io;    /* the I/O thread (virtio queues, backends, rate-limiter timers) */
	cpu_set_t vmm;   /* main, API, controller, migration, replication, pager... */
};

/* "0-3,6,8-9" (the kernel's cpulist syntax) into *set. Spaces are not allowed; an empty list,
 * a reversed range or a CPU above AFFINITY_MAX_CPU is -EINVAL with a message. */
int cpulist_parse(const char *s, size_t len, cpu_set_t *set, char *err, size_t errlen);
/* The set as a cpulist ("0-3,6"; "" when empty), truncated to len. */
void cpulist_format(const cpu_set_t *set, char *buf, size_t len);

/* The CPUs this process may run on: its affinity mask (which the kernel keeps inside the
 * cgroup's cpuset) as it was before petrel pinned anything. 0 or -errno. */
int affinity_host_allowed(cpu_set_t *out);

/* Every CPU in a (and in each set it has) is in allowed; no set is empty; no vCPU at or past
 * nvcpus (0: the number is not known yet) has one. -EINVAL with a message otherwise. */
int affinity_check(const struct cpu_affinity *a, const cpu_set_t *allowed, unsigned nvcpus,
		   char *err, size_t errlen);

/* Make a (NULL: none) the process's placement: checked against affinity_host_allowed() and
 * nvcpus, copied, and the calling thread (main) moved to the VMM set when there is one.
 * Called once per process, before the VM's threads start. 0, or -errno with a message. */
int affinity_set(const struct cpu_affinity *a, unsigned nvcpus, char *err, size_t errlen);

/* The set a new thread runs on, or NULL when no placement was set (threads then inherit
 * their creator's mask as usual). With a placement, threads it does not name get every
 * CPU petrel may use, so that none inherits another thread's pinning by accident. */
const cpu_set_t *affinity_for_vcpu(unsigned index);
const cpu_set_t *affinity_for_kind(int kind);   /* enum sc_kind */
/* Whether the placement names vCPU `index` (to warn about ones the VM does not have). */
bool affinity_names_vcpu(unsigned index);

/* Pin the calling thread: sched_setaffinity(0, ...), which every seccomp filter allows for the
 * calling thread only. 0 or -errno. */
int affinity_pin_self(const cpu_set_t *set);

/* Tests: forget the process's placement. */
void affinity_reset(void);

#endif
