/* libFuzzer target: grub.cfg as a boot from the disk runs it (src/diskboot/grubcfg*.c). The
 * input is the file; after a NUL byte, the rest is $prefix/grubenv. The disk's answers to
 * `search` and `[ -f ]` come from the names asked. The run ends with a boot or a reason, within
 * the limits (entries, depth, lines, variables), and the boot's paths are absolute. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "diskboot/grubcfg.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

static int search(void *ctx, enum grub_search kind, const char *what)
{
	size_t n = strlen(what);
	return n % 3 == 0 ? -1 : (int)(n % 5);
}

static int exists(void *ctx, int part, const char *path)
{
	return strlen(path) % 2;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t cfg_len = nul ? (size_t)(nul - data) : size;
	char *cfg = (char *)fuzz_dup(data, cfg_len);
	char *env = nul ? (char *)fuzz_dup(nul + 1, size - cfg_len - 1) : NULL;
	struct grub_disk d = { .table = size % 2 ? "msdos" : "gpt", .cfg_part = 1, .prefix = "/boot/grub", .grubenv = env,
			       .grubenv_len = env ? size - cfg_len - 1 : 0, .search = search, .exists = exists };
	struct grub_boot b;
	char err[512] = "";
	int r = grubcfg_pick(cfg, cfg_len, &d, &b, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EFBIG || r == -ENOMEM);
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(r == 0 || err[0]);
	if (r == 0) {
		FUZZ_CHECK(b.title && b.args && b.kernel.path && b.kernel.path[0] == '/');
		FUZZ_CHECK(b.kernel.part >= 0 && b.ninitrd <= GRUBCFG_MAX_INITRDS);
		for (unsigned i = 0; i < b.ninitrd; i++)
			FUZZ_CHECK(b.initrd[i].path[0] == '/' && b.initrd[i].part >= 0);
		grub_boot_free(&b);
	}
	free(cfg);
	free(env);
	return 0;
}
