/* A VM's job (libvirt's domain job, systemd's Operation): the verb running on a VM, with its
 * typed arguments and its answer. The VM record points at the job while it runs
 * (mgr_vm->job: the VM is busy; the listing's "operation" is the job's name). The table of
 * verbs, the states each may begin in and the thread that runs them: jobs.c. */
#ifndef PETREL_MANAGER_JOB_H
#define PETREL_MANAGER_JOB_H

#include "http/response.h"
#include "manager/backup_chain.h"
#include "manager/definition.h"
#include "manager/peer/peer.h"

#include <jansson.h>

struct manager;
struct mgr_vm;
struct clone_req;

enum mgr_verb {
	MGR_VERB_NONE,              /* not run through the table: a restart, an arriving VM, a new clone */
	MGR_VERB_START, MGR_VERB_SHUTDOWN, MGR_VERB_DESTROY, MGR_VERB_REBOOT, MGR_VERB_PAUSE, MGR_VERB_RESUME,
	MGR_VERB_SNAPSHOT, MGR_VERB_REVERT, MGR_VERB_BACKUP, MGR_VERB_RESTORE, MGR_VERB_MACHINE, MGR_VERB_CLONE,
	MGR_VERB_REPLICA_STANDBY, MGR_VERB_REPLICA_PRIMARY, MGR_VERB_REPLICA_PROMOTE, MGR_VERB_MIGRATE,
	MGR_VERB_COUNT
};

struct mgr_job {
	enum mgr_verb verb;
	struct manager *m;
	struct mgr_vm *vm;
	const char *name;           /* what the listing shows as the VM's "operation" */
	union {
		char name[VM_NAME_MAX + 1];         /* snapshot, revert: the snapshot; backup, restore: the backup */
		struct { long vcpus, mem_mib; } machine;   /* -1: unchanged */
		struct clone_req *clone;            /* owned */
		json_t *replica;                    /* the replica verb's body (owned) */
		struct peer_migrate_req migrate;
	} arg;
	char consistency[12];       /* snapshot, backup: "auto", "filesystem", "crash", or "" (the worker's
				     * default) */
	const char *target;         /* backup: a backup job's target directory (backup_jobs.c), or NULL: the
				     * VM's own backups */
	struct vmbackup_mode bmode; /* backup: full or incremental, its chain's key */
	char *backup_dir;           /* restore: the backup's directory (a backup job's target), NULL: the
				     * VM's own backups (owned) */
	json_t *result;             /* what the verb answers instead of the VM (clones), or NULL */
	json_t *event_extra;        /* the fields of the table's success event, or NULL */
	/* the API's answer, once the job has ended */
	api_done_fn done;
	void *opaque;
};

#endif
