/* The image store (images.c, docs/manager.md#images): prepared disks VMs are made from.
 * <image dir>/NAME.qcow2 or NAME.raw, the format probed once at import (petrel's own qcow2
 * header parser, src/block: nothing more of an image is read by petreld) and recorded with its
 * virtual size, the time and the source in NAME.json. A VM made from an image (from_image.c)
 * has its disks in <jail base>/images-vms/NAME/: root.base, a hard link of the image, and
 * root.qcow2, its overlay. The request bodies: image_body.c (untrusted, fuzzed). */
#ifndef PETREL_MANAGER_IMAGES_H
#define PETREL_MANAGER_IMAGES_H

#include "manager/definition.h"
#include "http/response.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct manager;

/* One image of the store. */
struct image_info {
	char name[VM_NAME_MAX + 1];
	char format[8];             /* "qcow2" or "raw" */
	char path[PATH_MAX];        /* <image dir>/NAME.FORMAT */
	uint64_t virtual_size;      /* bytes the guest sees */
};

/* POST /images {"name", "path", "move"} */
struct image_import {
	char name[VM_NAME_MAX + 1];
	char path[PATH_MAX];        /* absolute, on this host */
	bool move;                  /* rename (or copy and remove) the file instead of a copy */
};

/* POST /vms/from-image (from_image.c): what the request asks, checked. */
#define FROM_IMAGE_MAX 100           /* VMs of one request */
#define FROM_IMAGE_KEYS_MAX 32       /* SSH keys of the user */
#define FROM_IMAGE_TAP_MAX 15        /* a tap's name: IFNAMSIZ - 1 */
enum image_boot { IMAGE_BOOT_DISK, IMAGE_BOOT_SEABIOS, IMAGE_BOOT_OVMF };
struct image_vm_req {
	char name[VM_NAME_MAX + 1];      /* the VM's, or with count > 1 the prefix of NAME-1 .. NAME-N */
	char image[VM_NAME_MAX + 1];
	unsigned count;                  /* 1 .. FROM_IMAGE_MAX */
	unsigned vcpus;                  /* default 1 */
	unsigned memory_mib;             /* default 512 */
	unsigned disk_size_gib;          /* 0: the image's size */
	char network[VM_NAME_MAX + 1];   /* a host network of petreld's, or "" */
	char tap[FROM_IMAGE_TAP_MAX + 1]; /* a tap of the host's ("%d": the VM's number), or "" */
	enum image_boot boot;
	bool start;
	char user[33];                   /* the cloud-init user (default "debian" with keys or a password) */
	char passwd[256];                /* its password's crypt(3) hash, or "" */
	char password[256];              /* a password in clear, hashed by petreld (yescrypt), or "" */
	json_t *keys;                    /* its SSH public keys, an array of strings (owned), or NULL */
	json_t *cloud_init;              /* the petrel.cloud-init section given (owned), or NULL */
};

/* image_body.c: the request bodies (untrusted). 0, or -EINVAL with the reason. */
int image_import_parse(const char *body, size_t len, struct image_import *q, char *err, size_t errlen);
int image_vm_parse(const char *body, size_t len, struct image_vm_req *q, char *err, size_t errlen);
/* The name of VM i (0-based) of q: NAME, or NAME-(i+1) with count > 1. */
void image_vm_name(const struct image_vm_req *q, unsigned i, char out[VM_NAME_MAX + 1]);
/* Its tap: q->tap with "%d" replaced by i + 1, or "" without one. */
void image_vm_tap(const struct image_vm_req *q, unsigned i, char out[FROM_IMAGE_TAP_MAX + 1]);
void image_vm_req_free(struct image_vm_req *q);

/* GET /images: every image, with its allocated bytes and the VMs whose disks use it (m->lock
 * held). */
json_t *images_list(struct manager *m);
/* The image name: 0, or -ENOENT / -EINVAL with the reason. */
int images_get(struct manager *m, const char *name, struct image_info *out, char *err, size_t errlen);
/* Import q's file as an image (m->lock not held: the copy takes its time; the store's own
 * names keep two imports apart); *out: the image as GET /images shows it. -EEXIST (the name is
 * taken), -EINVAL (not an image petreld takes: not a regular file, a qcow2 image with a backing
 * file or whose header petrel refuses), -errno. Event "image imported". */
int images_import(struct manager *m, const struct image_import *q, json_t **out, char *err, size_t errlen);
/* images_import on a thread of its own, answered through done (201 and the image, or the
 * fault): 0, or -errno (no thread). */
int images_import_start(struct manager *m, const struct image_import *q, api_done_fn done, void *opaque);
/* Remove the image name: -ENOENT, -EBUSY while a VM's disk uses it (m->lock held). Event
 * "image removed". */
int images_remove(struct manager *m, const char *name, char *err, size_t errlen);
/* <jail base>/images-vms/NAME, or <jail base>/images-vms when name is NULL: 0 or -ENAMETOOLONG. */
int images_vm_dir(struct manager *m, const char *name, char *out, size_t size);
/* Remove the directory of def's disks made from an image, when its drives are in it (its
 * undefine). */
void images_vm_dir_remove(struct manager *m, const struct vm_def *def);

#endif
