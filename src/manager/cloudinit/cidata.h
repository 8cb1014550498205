/* cloud-init's seed as a drive (cidata.c): a FAT file system labelled "cidata" holding the
 * seed's files, made on a plain file with mtools (mformat, mcopy: Debian's mtools), without a
 * mount or a loop device. */
#ifndef PETREL_MANAGER_CLOUDINIT_CIDATA_H
#define PETREL_MANAGER_CLOUDINIT_CIDATA_H

#include <stddef.h>

struct ci_seed;

/* FAT's volume label, upper case as FAT keeps it in the root directory (mformat writes the
 * boot sector's copy as given: a lower-case one there differs, which fsck.vfat reports);
 * cloud-init's NoCloud and ds-identify look for "cidata" in either case. */
#define CIDATA_LABEL "CIDATA"
#define CIDATA_BYTES (2 << 20)   /* the file system: the largest seed (1 MiB) and FAT's own */
#define MTOOLS_DIR "/usr/bin"

/* path = a new drive image of seed: made under a temporary name beside it, filled, synced and
 * renamed over path (a reader sees the old image or the whole new one). 0, or -errno with err
 * (mtools' own message when one of them failed). */
int cidata_write(const char *path, const struct ci_seed *seed, char *err, size_t errlen);

#endif
