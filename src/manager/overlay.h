/* A copy-on-write disk over a shared base (overlay.c): what a clone (clone.c) and a VM made from
 * an image (from_image.c) run on. */
#ifndef PETREL_MANAGER_OVERLAY_H
#define PETREL_MANAGER_OVERLAY_H

#include <stddef.h>
#include <stdint.h>

/* In dir: ID.base, a hard link of disk (a symbolic link to it when disk is on another file
 * system: a worker without the jailer follows it, a jailed one needs the link), and ID.qcow2, a
 * new qcow2 image (petrel's qcow2_create) whose backing file is the relative "ID.base" of
 * format fmt (NULL: probed), size bytes (0: the base's). top: ID.qcow2's path. 0 or -errno with
 * the reason; what was made is removed again on a failure. */
int overlay_make(const char *dir, const char *id, const char *disk, const char *fmt, uint64_t size, char *top,
		 size_t toplen, char *err, size_t errlen);

/* Whether the disk at path (format fmt; NULL: probed with petrel's own qcow2 header parser)
 * stands alone: 0, -ENOTSUP when it is a qcow2 image with a backing file, or -errno (it cannot
 * be read, its qcow2 header is not valid) with the reason. */
int disk_stands_alone(const char *path, const char *fmt, char *err, size_t errlen);

#endif
