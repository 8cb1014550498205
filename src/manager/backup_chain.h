/* A VM's chain of backups (backup_chain.c, docs/backups.md#incremental-backups): which member a
 * new backup builds on, the worker's request for it, the earlier members linked into a jail,
 * and the chain fields of meta.json. */
#ifndef PETREL_MANAGER_BACKUP_CHAIN_H
#define PETREL_MANAGER_BACKUP_CHAIN_H

#include "manager/definition.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define BACKUP_CHAIN_KEY_MAX 48     /* "job:" and a job's id, or "api" */
#define BACKUP_CHAIN_ID_LEN (BACKUP_CHAIN_KEY_MAX + VM_NAME_MAX + 2)
/* Members a chain holds at most, its full one included: a disk opens at most DISK_MAX_CHAIN (16)
 * images, the new member on top of them; a longer chain restarts with a full member. */
#define BACKUP_LINK_MAX 15

/* What the caller asks: a full member, or an incremental one on the newest member of the chain
 * key names; full_every: a full member when the chain has that many incrementals (0: never). */
struct vmbackup_mode {
	bool incremental;
	unsigned full_every;
	char key[BACKUP_CHAIN_KEY_MAX + 1];
};

/* The plan of one backup: what petreld asks the worker for. */
struct backup_plan {
	bool incremental;                    /* ask for an incremental member */
	char why[200];                       /* why petreld asks for a full one though incremental was asked */
	char chain_id[BACKUP_CHAIN_ID_LEN];  /* "KEY:first full member's name" */
	char prev[VM_NAME_MAX + 1];          /* the member it builds on ("" for a full one) */
	json_t *backing;                     /* {"drive_id": "../PREV/FILE"} (owned), NULL for a full one */
	char links[BACKUP_LINK_MAX][VM_NAME_MAX + 1];   /* prev and the members before it, to the full one */
	unsigned nlinks;
};

/* Plan the backup name into parent (the VM's backups) for drives (the definition's "drives"). */
void backup_chain_plan(const char *parent, const char *name, json_t *drives, const struct vmbackup_mode *mode,
		       struct backup_plan *p);
void backup_plan_free(struct backup_plan *p);
/* A full member after all (the chain cannot reach the worker): why, the chain restarted. */
void backup_plan_full(struct backup_plan *p, const char *key, const char *name, const char *why);
/* Hard-link the disk files of p's members (parent/MEMBER/FILE) into inside/MEMBER/FILE, where a
 * jailed worker resolves the backing names; the directories the worker's (uid, gid). -EXDEV: the
 * target is on another file system than the jail. 0 or -errno and why. */
int backup_chain_link(const char *parent, const struct backup_plan *p, const char *inside, unsigned uid,
		      unsigned gid, char *err, size_t errlen);
/* The chain fields of meta.json from the worker's answer: "mode" (and "why"), "chain_id", "parent"
 * (when a disk's member is incremental), "disks". */
void backup_chain_meta(json_t *meta, const struct backup_plan *p, json_t *answer);
/* The request's body {"name", "consistency", "mode"} of POST /vms/NAME/backup. */
int vmbackup_body_parse(const char *body, size_t len, char *name, char *consistency, bool *incremental, char *err,
			size_t errlen);
/* The file of drive id in a member's meta.json ("disks"), else "ID.img" (before chains). */
void backup_member_file(json_t *meta, const char *id, char *out, size_t size);

#endif
