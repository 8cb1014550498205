/* cloud-init's NoCloud seed of a VM (seed.c, docs/manager.md#cloud-init): a checked cloud-init
 * section (ci_def.h) -> the files of a "cidata" drive:
 *   meta-data       {"instance-id": the VM's UUID, "local-hostname": the host name}
 *   user-data       "#cloud-config" + the users as JSON (YAML's superset); the section's
 *                   user_data as given; both: a MIME multipart message, ours first
 *   network-config  network_config as JSON (only with one)
 *   vendor-data     vendor_data as given (only with one)
 * Pure: strings in, strings out. */
#ifndef PETREL_MANAGER_CLOUDINIT_SEED_H
#define PETREL_MANAGER_CLOUDINIT_SEED_H

#include <jansson.h>
#include <stddef.h>

enum ci_file { CI_META_DATA, CI_USER_DATA, CI_NETWORK_CONFIG, CI_VENDOR_DATA, CI_NFILES };

struct ci_seed {
	char *text[CI_NFILES];   /* NULL: no such file */
	size_t len[CI_NFILES];
};

/* The file names on the drive, by enum ci_file. */
extern const char *const ci_file_names[CI_NFILES];
/* The seed of a section ci_def_check accepted, for the VM named vm_name with instance-id uuid.
 * 0, or -ENOMEM / -EINVAL with err (the seed freed). */
int ci_seed_make(json_t *section, const char *vm_name, const char *uuid, struct ci_seed *seed, char *err,
		 size_t errlen);
/* Its files' bytes together. */
size_t ci_seed_size(const struct ci_seed *seed);
void ci_seed_free(struct ci_seed *seed);

#endif
