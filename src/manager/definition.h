/* A VM's definition (definition.c): one checked definition file, what petreld keeps of it
 * (struct vm_def) and its names. The definitions directory is defs.h's; reading, checking and
 * saving one for the inventory is definitions.h's. */
#ifndef PETREL_MANAGER_DEFINITION_H
#define PETREL_MANAGER_DEFINITION_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct manager;

#define VM_NAME_MAX 64

enum restart_policy { RESTART_NEVER, RESTART_ON_FAILURE, RESTART_ALWAYS };

/* A VM's share of the host, applied to its worker's cgroup (partition.c). 0 / "": not set. */
struct vm_resources {
	unsigned cpu_weight;        /* 1..10000, 100 = the default share */
	unsigned cpu_quota_pct;     /* % of one CPU per period, 1..100 * host CPUs */
	char cpuset[64];            /* host CPUs, "0-1,3" */
	uint64_t memory_limit_mib;  /* worker's whole memory, guest RAM included */
};

/* One definition file, checked (definition.c). */
struct vm_def {
	char name[VM_NAME_MAX + 1];
	char uuid[37];
	bool autostart;
	enum restart_policy restart;
	bool shutdown_agent;        /* petrel.shutdown "agent": shutdown asks the guest agent first */
	struct vm_resources res;
	unsigned uid, gid;          /* the worker's ids in its jail */
	json_t *doc;                /* the whole document, as stored (owned) */
};

/* text -> checked definition. Errors: -EINVAL (400) with the reason. */
int def_parse(const char *text, size_t len, struct vm_def *def, char *err, size_t errlen);
/* The files the VM writes to (drives, pmem) must exist, be regular files or block devices and
 * belong to no other VM of m (m->lock held; self is skipped). -EINVAL, -ENOENT or -EEXIST. */
int def_check_files(struct manager *m, const struct vm_def *def, char *err, size_t errlen);
void def_free(struct vm_def *def);
/* Only the keys of the NULL-ended list in o: 0, or -EINVAL "WHERE: unknown field 'K'". */
int def_only_keys(json_t *o, const char *where, const char *const *keys, char *err, size_t errlen);
/* The boot-source fields that name a host file (a firmware by its path: firmware_path; a UEFI
 * firmware's variables file), NULL-ended. */
extern const char *const def_boot_keys[];
/* Calls fn for every host file the Firecracker part of doc names: kernel, initrd, firmware (disk false),
 * the firmware's variables file, drives and pmem (disk true: the worker writes them); stops at its
 * first error. */
int def_foreach_file(json_t *doc, int (*fn)(void *, const char *where, const char *path, bool disk),
		     void *arg);
const char *restart_policy_name(enum restart_policy p);
/* Whether the Firecracker part of doc gives the VM a guest agent ("guest-agent": {"enabled": true}). */
bool def_guest_agent(json_t *doc);
/* A VM's (a snapshot's, a backup's) name: 1 to VM_NAME_MAX of [A-Za-z0-9-], no '-' first. */
bool mgr_vm_name_ok(const char *name);

#endif
