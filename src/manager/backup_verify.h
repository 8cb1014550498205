/* Checksums of backups and their verification (backup_verify.c, docs/backups.md#verification):
 * meta.json's "sha256" names every file of a backup with its SHA-256 (nettle's); a verification
 * reads them all again, and the chain's earlier members (meta.json's "parent") too. */
#ifndef PETREL_MANAGER_BACKUP_VERIFY_H
#define PETREL_MANAGER_BACKUP_VERIFY_H

#include <jansson.h>
#include <stddef.h>

#define BACKUP_CHAIN_MAX 256

/* {"FILE": "hex SHA-256"} of every regular file in dir but meta.json: 0 and *out, or -errno and
 * why. A disk member's comes from the worker's answer (disks: its "disks", each with "file" and
 * "sha256", computed as the member was written) when it has one, so the member is not read
 * again; the rest are read. A wrong one from the worker only makes backup-verify find the member
 * altered. */
int backup_checksums(const char *dir, const json_t *disks, json_t **out, char *err, size_t errlen);
/* Verify the backup <parent>/<name> and the members before it: {"backup", "ok", "chain": [names,
 * the backup first], "files": [{"backup", "file", "status": "ok" | "altered" | "missing"}],
 * "problems": ["what is wrong, the member and file named"]}. */
json_t *backup_verify(const char *parent, const char *name);

#endif
