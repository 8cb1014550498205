/* Retention of a backup job's backups (backup_prune.c, docs/backups.md#retention): Proxmox's
 * keep-last, keep-hourly, keep-daily, keep-weekly, keep-monthly, keep-yearly. */
#ifndef PETREL_MANAGER_BACKUP_PRUNE_H
#define PETREL_MANAGER_BACKUP_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

enum { PRUNE_LAST, PRUNE_HOURLY, PRUNE_DAILY, PRUNE_WEEKLY, PRUNE_MONTHLY, PRUNE_YEARLY, PRUNE_RULES };
#define PRUNE_KEEP_MAX 100000

/* How many of each to keep; all 0: keep everything. */
struct prune_keep {
	unsigned n[PRUNE_RULES];
};

/* The retention object's names, "keep-last" .. "keep-yearly", in the order the rules apply. */
extern const char *const prune_rule_names[PRUNE_RULES];

/* Which of n backups taken at times[] (any order, each time once) to keep: keep[i]. The rules
 * apply in order, newest backup first; each keeps the newest backup of each of its periods (an
 * hour, a day, an ISO week, a month, a year of the local time zone) until it has kept its count,
 * skipping the periods a rule before it kept a backup in; a backup of a period already kept is
 * to be removed, and no later rule looks at it. What no rule keeps is removed. */
void backup_prune(const time_t *times, size_t n, const struct prune_keep *k, bool *keep);

#endif
