/* A definition's cloud-init section (ci_def.c, docs/manager.md#cloud-init): inside "petrel",
 *   "cloud-init": {"hostname": "web1" (default: the VM's name),
 *                  "users": [{"name", "ssh_authorized_keys": [...], "passwd": "$6$...",
 *                             "sudo": true | "RULE", "shell": "/bin/bash"}],
 *                  "network_config": {...} (cloud-init's network config, version 1 or 2),
 *                  "user_data": "#cloud-config ..." | "#!..." | MIME, "vendor_data": "..."}
 * becomes NoCloud's seed (seed.c) on a read-only drive "cidata". Pure: the section's shape and
 * sizes, checked when a definition is parsed. */
#ifndef PETREL_MANAGER_CLOUDINIT_CI_DEF_H
#define PETREL_MANAGER_CLOUDINIT_CI_DEF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define CI_SECTION "cloud-init"
#define CI_DRIVE_ID "cidata"          /* the seed's drive_id (and its vfat label) */
#define CI_SEED_MAX_BYTES (1 << 20)   /* the seed's files together */
#define CI_HOSTNAME_MAX 253
#define CI_USERS_MAX 64
#define CI_USER_NAME_MAX 32
#define CI_KEYS_MAX 64                /* ssh_authorized_keys per user */
#define CI_KEY_MAX_BYTES 16384        /* one authorized_keys line */
#define CI_PASSWD_MAX 512
#define CI_SHELL_MAX 256
#define CI_SUDO_MAX 1024

/* The cloud-init section of a definition's document, or NULL (none). */
json_t *ci_section(json_t *doc);
/* The host name cloud-init sets: the section's "hostname", else the VM's name. */
const char *ci_hostname(json_t *section, const char *vm_name);
/* doc's cloud-init section, when it has one: its fields, their types and limits, the host
 * name (the VM's name must be one when no hostname is given), no drive of doc already named
 * CI_DRIVE_ID, and the seed it makes (instance-id uuid) at most CI_SEED_MAX_BYTES. 0, or -EINVAL with
 * "petrel.cloud-init.FIELD: ..." in err. */
int ci_def_check(json_t *doc, const char *vm_name, const char *uuid, char *err, size_t errlen);
/* A host name: labels of 1 to 63 of [A-Za-z0-9-] not beginning or ending with '-', joined by
 * '.', at most CI_HOSTNAME_MAX in all. */
bool ci_hostname_ok(const char *s);

#endif
