/* A copy-on-write disk over a shared base (overlay.h). The base is a link, never a copy: the
 * overlays of every clone of a VM's disk, of every VM made from an image, share it, and the
 * link keeps its data alive whatever becomes of the file it was made from. The overlay names
 * its base by the relative "ID.base", which is how a jailed worker finds it beside the disk
 * (jail_backing.c). */
#include "manager/overlay.h"
#include "manager/jail_fill.h"
#include "block/qcow2.h"
#include "block/qcow2_format.h"
#include "util/error.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int overlay_make(const char *dir, const char *id, const char *disk, const char *fmt, uint64_t size, char *top,
		 size_t toplen, char *err, size_t errlen)
{
	char base[PATH_MAX], rel[NAME_MAX + 1];
	if (snprintf(rel, sizeof(rel), "%s.base", id) >= (int)sizeof(rel) ||
	    snprintf(base, sizeof(base), "%s/%s", dir, rel) >= (int)sizeof(base) ||
	    snprintf(top, toplen, "%s/%s.qcow2", dir, id) >= (int)toplen)
		return error_set(err, errlen, -ENAMETOOLONG, "%s: path too long", dir);
	if (link(disk, base) < 0) {
		char real[PATH_MAX];
		if (errno != EXDEV || !realpath(disk, real) || symlink(real, base) < 0)
			return error_set(err, errlen, -errno, "drive '%s': cannot link '%s' as %s: %s", id, disk, base,
					 strerror(errno));
	}
	struct qcow2_create_opts o = { .backing = rel, .backing_format = fmt, .size = size };
	char why[512];
	if (qcow2_create(top, &o, why, sizeof(why)) < 0) {
		unlink(base);
		return error_set(err, errlen, -EIO, "drive '%s': %s", id, why);
	}
	return 0;
}

int disk_stands_alone(const char *path, const char *fmt, char *err, size_t errlen)
{
	struct qcow2_header *h = malloc(sizeof(*h));
	int q = h ? disk_qcow2_header(path, fmt, h, err, errlen) : error_set(err, errlen, -ENOMEM, "out of memory");
	if (q > 0 && h->backing_file[0])
		q = error_set(err, errlen, -ENOTSUP, "'%s' has a backing file ('%s')", path, h->backing_file);
	free(h);
	return q < 0 ? q : 0;
}
