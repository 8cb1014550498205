/* libFuzzer target: a boot disk's partition table (src/diskboot/partitions.c): the input is the
 * whole disk (MBR with extended/logical chains, GPT with its CRCs and backup). A table is read
 * or refused with a reason; every partition read lies inside the disk. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diskboot/partitions.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *disk = fuzz_dup(data, size);
	struct dsrc_mem m;
	struct dsrc src = dsrc_of_mem(&m, disk, size);
	static struct dpart_list l;
	char err[256] = "";
	int r = partitions_read(&src, &l, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOMEM || r == -EIO || r == -ERANGE);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(r == 0 || err[0]);
	if (r == 0) {
		FUZZ_CHECK(l.n <= DISKBOOT_MAX_PARTS);
		for (unsigned i = 0; i < l.n; i++) {
			FUZZ_CHECK(l.p[i].start <= size && l.p[i].size <= size - l.p[i].start);
			char uuid[40];
			part_uuid(&l, &l.p[i], uuid);
		}
	}
	free(disk);
	return 0;
}
