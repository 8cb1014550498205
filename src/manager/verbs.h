/* The verbs of a VM beyond its lifecycle, each in its own file, run as jobs (jobs.c) on the VM's
 * thread: backups, snapshots, the machine's size, clones, restores. Replicated VMs': replica.h;
 * migration's: peer.h. */
#ifndef PETREL_MANAGER_VERBS_H
#define PETREL_MANAGER_VERBS_H

#include "manager/backup_chain.h"
#include "manager/definition.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* backup.c: backups of a running VM with its disks (petrel's PUT /snapshot/backup), in
 * <snapshot dir>/<vm>.backups/<name>/: vm.state, vm.mem, DRIVE_ID.img, meta.json. */
/* consistency: "auto", "filesystem", "crash" (the guest agent's freeze around it: docs/guest-agent.md),
 * or "" for the worker's default; what the worker says it was goes into meta.json. */
/* target: a backup job's target directory: the backup goes to <target>/<vm>/<name>; NULL or "": the
 * VM's own. meta.json has "created" (petreld's clock: test_clock.h), "sha256" (every file's,
 * backup_verify.h). */
/* mode: a full member, or an incremental one on the chain's newest (backup_chain.h); meta.json
 * then has the chain's fields too: "mode" as the worker made it ("why" when not as asked),
 * "chain_id", "parent", "disks" (the worker's answer per disk). */
int vmbackup_create(struct manager *m, struct mgr_vm *vm, const char *name, const char *consistency,
		    const char *target, const struct vmbackup_mode *mode, char *err, size_t errlen);
/* Where a VM's backups are: <target>/<vm>, or its own <snapshot dir>/<vm>.backups. */
int vmbackup_parent_dir(struct manager *m, const char *vm, const char *target, char *out, size_t size);
json_t *vmbackup_list(struct manager *m, struct mgr_vm *vm);

/* snapshot.c: snapshots of a VM, <snapshot dir>/<vm>/<snapshot>/{vm.state, vm.mem, meta.json}. */
/* consistency: as vmbackup_create's; meta.json keeps what the worker says it was. */
int vmsnap_create(struct manager *m, struct mgr_vm *vm, const char *snap, const char *consistency, char *err,
		  size_t errlen);
int vmsnap_revert(struct manager *m, struct mgr_vm *vm, const char *snap, char *err, size_t errlen);
int vmsnap_delete(struct manager *m, struct mgr_vm *vm, const char *snap, char *err, size_t errlen);
json_t *vmsnap_list(struct manager *m, struct mgr_vm *vm);

/* machine.c: vCPUs and memory of a running VM (PATCH /vms/NAME/machine); -1: unchanged. */
int machine_parse(json_t *o, long *vcpus, long *mem_mib, char *err, size_t errlen);
int machine_apply(struct manager *m, struct mgr_vm *vm, long vcpus, long mem_mib, char *err, size_t errlen);

/* clone.c: N VMs from a snapshot on qcow2 overlays (POST /vms/NAME/clone). prepare parses
 * the body and checks it against the inventory (m->lock held), run makes and starts them. */
#define CLONE_MAX 1000
#define TAP_MAX 15          /* a tap's name: IFNAMSIZ - 1 */
struct clone_req {
	char snap[VM_NAME_MAX + 1];
	char prefix[VM_NAME_MAX + 1];
	unsigned count;
	bool start;
	json_t *net;        /* iface_id -> tap name, "%d": the clone's number */
};
/* clone_body.c: the bodies of clone, restore, snapshot and backup (untrusted: fuzzed). */
int vmclone_parse(const char *body, size_t len, const char *vm, struct clone_req *q, char *err, size_t errlen);
/* A tap's name, "%d" in it at most once (a clone's, a VM's number), at most TAP_MAX characters
 * once the number is in ([A-Za-z0-9_.-]). */
bool tap_pattern_ok(const char *pat);
/* A body {KEY: NAME} (a snapshot's, a backup's name) into out (VM_NAME_MAX + 1 bytes). */
bool name_body_parse(const char *body, size_t len, const char *key, char *out);
/* A body {"name": NAME, "consistency": "auto"|"filesystem"|"crash"} (consistency optional: "" then;
 * 12 bytes): 0 or -EINVAL and why. */
int named_consistency_parse(const char *body, size_t len, char *name, char *consistency, char *err, size_t errlen);
/* What a worker's answer to a snapshot or backup says of its consistency, as meta.json keeps it:
 * {"consistency": "filesystem", "frozen_ms": N} or {"consistency": "crash"} (anything else, or no
 * answer: a worker that does not say is taken as crash-consistent). */
json_t *consistency_meta(json_t *answer);
int vmclone_prepare(struct manager *m, struct mgr_vm *vm, const char *body, size_t len, struct clone_req **out,
		    char *err, size_t errlen);
/* Make and start the clones q asks for; *result: the clones, as the API shows them. */
int vmclone_run(struct manager *m, struct mgr_vm *src, const struct clone_req *q, json_t **result, char *err,
		size_t errlen);
void vmclone_free(void *req);
int vmrestore_parse(const char *body, size_t len, char *backup, char *err, size_t errlen);

/* restore.c: POST /vms/NAME/restore {"backup"}: the backup's disks back, its state loaded. */
/* dir: the backup's directory (a backup job's target: backup_jobs_find_backup), NULL: the VM's
 * own <snapshot dir>/<vm>.backups/<backup>. */
int vmrestore_check(struct manager *m, struct mgr_vm *vm, const char *backup, const char *dir, char *err,
		    size_t errlen);
int vmrestore_run(struct manager *m, struct mgr_vm *vm, const char *backup, const char *dir, char *err, size_t errlen);

#endif
