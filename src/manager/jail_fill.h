/* Filling a worker's jail (jail_backing.c): a qcow2 disk's backing chain, linked into the jail
 * beside it. */
#ifndef PETREL_MANAGER_JAIL_FILL_H
#define PETREL_MANAGER_JAIL_FILL_H

#include <jansson.h>
#include <stddef.h>

struct qcow2_header;
/* The qcow2 header of path: 1 (qcow2), 0 (not: format "raw", or probed), or -errno. */
int disk_qcow2_header(const char *path, const char *format, struct qcow2_header *h, char *err, size_t errlen);
int jail_link_backing(json_t *fc, const char *root, char *err, size_t errlen);

#endif
