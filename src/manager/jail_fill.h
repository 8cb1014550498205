/* Filling a worker's jail (jail_fill.c, jail_backing.c): below the worker, which calls
 * jail_fill for every jailed start; the rest for the starts that need more in the jail. */
#ifndef PETREL_MANAGER_JAIL_FILL_H
#define PETREL_MANAGER_JAIL_FILL_H

#include <jansson.h>
#include <stddef.h>

struct manager;
struct mgr_vm;

/* Put the files fc (the definition's Firecracker part) names into the jail's root as /vm/fN,
 * with the qcow2 backing chains beside them, and rewrite fc's paths to those. Kernels and
 * initrds are linked or copied (read only); disks are hard links, so they must live on the
 * jail base's file system, and are handed to the worker's uid:gid. */
int jail_fill(struct mgr_vm *vm, const char *root, json_t *fc, char *err, size_t errlen);
/* Link (or copy) a snapshot's files (directory dir) into the jail's root as /vm.state and
 * /vm.mem, for the worker's uid. */
int jail_put_snapshot(struct mgr_vm *vm, const char *dir, const char *root, char *err, size_t errlen);
/* The certificate directory (m->tls_dir) as vm's worker sees it: copied into its jail as /tls,
 * for its uid alone; the directory itself without a jail. -EINVAL without --tls-dir. */
int jail_tls_dir(struct manager *m, struct mgr_vm *vm, char *out, size_t outlen, char *err, size_t errlen);

/* jail_backing.c */
struct qcow2_header;
/* The qcow2 header of path: 1 (qcow2), 0 (not: format "raw", or probed), or -errno. */
int disk_qcow2_header(const char *path, const char *format, struct qcow2_header *h, char *err, size_t errlen);
/* Link the backing chains of fc's qcow2 drives into the jail's root beside them. */
int jail_link_backing(json_t *fc, const char *root, char *err, size_t errlen);

#endif
