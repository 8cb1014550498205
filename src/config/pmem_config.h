/* Firecracker's Pmem object: a host file mapped into the guest as a virtio-pmem device (PUT
 * /pmem/{id}, the "pmem" section of a config file, petrel's --pmem), and PartialPmem (PATCH
 * /pmem/{id}: a new rate limiter after the start). See docs/pmem.md.
 *
 * Parsers are strict like the other device objects (devices_config.h): unknown fields, wrong
 * types and bad ids are -EINVAL with "where.key: ..."; null means "not given". */
#ifndef PETREL_CONFIG_PMEM_CONFIG_H
#define PETREL_CONFIG_PMEM_CONFIG_H

#include "config/devices_config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMEM_MAX_DEVICES 8

struct pmem_config {
	char *id;                 /* required: [A-Za-z0-9_], 1..DEVICES_ID_MAX characters */
	char *path_on_host;       /* required: a regular, non-empty file */
	bool root_device;         /* root=/dev/pmemN on the kernel command line */
	bool read_only;           /* mapped read-only, a read-only KVM slot */
	struct rate_limiter_config rate_limiter;  /* flush requests (1 op + the file's size) */
	enum virtio_transport_kind transport;     /* petrel's: CLI only */
};

struct vm_config;

int pmem_config_from_json(json_t *obj, const char *where, struct pmem_config *out, char *err, size_t errlen);
json_t *pmem_config_to_json(const struct pmem_config *c);
/* PATCH /pmem/{id}: {"id", "rate_limiter"}; *id is allocated (free it). */
int pmem_update_from_json(json_t *obj, char **id, struct rate_limiter_config *rl, char *err, size_t errlen);
/* --pmem PATH[,ro][,root][,id=NAME][,transport=pci|mmio] (id defaults to "pmemN", N = index). */
int pmem_config_from_cli(const char *arg, unsigned index, struct pmem_config *out, char *err, size_t errlen);
void pmem_config_free(struct pmem_config *c);
int pmem_config_copy(struct pmem_config *dst, const struct pmem_config *src);


/* The VM definition's pmem list (vm_config.pmem). Add one: -EEXIST for a second device with
 * the same id or a second root device (a drive or a pmem device), -ENOSPC when full. */
int vm_config_add_pmem(struct vm_config *cfg, struct pmem_config *p, char *err, size_t errlen);
/* The index of the root pmem device, or -1. */
int pmem_root_index(const struct vm_config *cfg);
/* At most one root device among drives and pmem devices: 0, or -EINVAL and why. */
int pmem_check_root(const struct vm_config *cfg, char *err, size_t errlen);
/* " root=/dev/pmemN rw" (or ro) for the root pmem device, "" without one. */
void pmem_root_cmdline(const struct vm_config *cfg, char *buf, size_t len);
/* The "pmem" array of a config file into cfg (replacing its list). -EINVAL and why. */
int pmem_section_from_json(json_t *arr, struct vm_config *cfg, char *err, size_t errlen);
json_t *pmem_section_to_json(const struct vm_config *cfg);
void pmem_section_free(struct vm_config *cfg);

#endif
