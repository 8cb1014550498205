/* petrel's virtio-fs devices (docs/virtio-fs.md): a host directory served to the guest by a
 * vhost-user back end (virtiofsd) listening on a Unix socket. PUT /fs/{id} (a petrel
 * extension of Firecracker's API), the "fs" section of a config file, petrel's --fs.
 *
 * Strict like the other device objects (devices_config.h): unknown fields, wrong types, bad
 * ids are -EINVAL with "where.key: ..."; null means "not given". */
#ifndef PETREL_CONFIG_FS_CONFIG_H
#define PETREL_CONFIG_FS_CONFIG_H

#include "config/devices_config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FS_MAX_DEVICES 4
#define FS_TAG_MAX 36                 /* virtio-fs's configuration field */
#define FS_SOCKET_MAX 107             /* sockaddr_un's sun_path, less its NUL */
#define FS_QUEUE_SIZE_DEFAULT 1024
#define FS_MAX_REQUEST_QUEUES 15

struct fs_config {
	char *id;                     /* required: [A-Za-z0-9_], 1..DEVICES_ID_MAX characters */
	char *socket;                 /* required: the back end's vhost-user socket */
	char *tag;                    /* required: what the guest mounts (mount -t virtiofs TAG DIR), 1..36 bytes */
	unsigned queue_size;          /* a power of two, 16..1024 (default 1024) */
	unsigned num_request_queues;  /* 1..15 (default 1) */
	enum virtio_transport_kind transport;  /* petrel's: CLI only */
};

struct vm_config;

int fs_config_from_json(json_t *obj, const char *where, struct fs_config *out, char *err, size_t errlen);
json_t *fs_config_to_json(const struct fs_config *c);
/* --fs SOCKET,tag=TAG[,id=NAME][,queue_size=N][,num_request_queues=N][,transport=pci|mmio]
 * (id defaults to "fsN", N = index). */
int fs_config_from_cli(const char *arg, unsigned index, struct fs_config *out, char *err, size_t errlen);
void fs_config_free(struct fs_config *c);
/* A back end must be listening there: a Unix socket (not yet connected to). 0, or -errno with
 * "fs 'id': socket ..." in err. */
int fs_check_socket(const struct fs_config *c, char *err, size_t errlen);

/* The VM definition's list (vm_config.fs). Add one, or replace the one with its id in place:
 * -EEXIST for a second device with the same tag, -ENOSPC when full. */
int vm_config_put_fs(struct vm_config *cfg, struct fs_config *c, char *err, size_t errlen);
/* What does not go with virtio-fs: virtio-mem (its memory is not shared with the back end).
 * 0, or -EINVAL and why. */
int fs_check_config(const struct vm_config *cfg, char *err, size_t errlen);
/* The "fs" array of a config file into cfg (replacing its list). -EINVAL and why. */
int fs_section_from_json(json_t *arr, struct vm_config *cfg, char *err, size_t errlen);
json_t *fs_section_to_json(const struct vm_config *cfg);
void fs_section_free(struct vm_config *cfg);

#endif
