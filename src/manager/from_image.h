/* POST /vms/from-image (from_image.c, docs/manager.md#vms-from-an-image): VMs made from an
 * image of the store (images.h), each on a copy-on-write overlay of it, with an identity of
 * its own (name, UUID, host name, MAC, cloud-init's instance-id). A verb of petreld's own
 * kind: it has no VM to run on until it made them. */
#ifndef PETREL_MANAGER_FROM_IMAGE_H
#define PETREL_MANAGER_FROM_IMAGE_H

#include "manager/images.h"
#include "http/response.h"

#include <jansson.h>
#include <stddef.h>

struct manager;

#define FROM_IMAGE_PATH "from-image"   /* /vms/from-image: no VM may have this name */

/* Parse the body and check it against the inventory and the store (m->lock held): the image,
 * the VMs' names and their directories free. 0 and *out, or -errno with the reason. */
int vmimage_prepare(struct manager *m, const char *body, size_t len, struct image_vm_req **out, char *err,
		    size_t errlen);
/* Make (and with q->start start) the VMs q asks for, all or nothing (m->lock not held);
 * *result: the VMs as the API shows them. */
int vmimage_run(struct manager *m, struct image_vm_req *q, json_t **result, char *err, size_t errlen);
/* vmimage_run on a thread of its own, answered through done (201 and the VMs, or the fault
 * "from-image: why"); q is taken. 0 or -errno (no thread: q is the caller's still). */
int vmimage_start(struct manager *m, struct image_vm_req *q, api_done_fn done, void *opaque);
void vmimage_free(struct image_vm_req *q);

#endif
