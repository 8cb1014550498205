/* libFuzzer target: the table loader's interpreter (src/arch/x86/fw_loader.c, fw_loader_run)
 * on arbitrary command blobs, over petrel's real ACPI blobs (etc/acpi/tables, etc/acpi/rsdp)
 * and two small files of its own. The input: 8 bytes that seed the placement (the FSEG and
 * HIGH bases, whose arithmetic may wrap: the interpreter must catch what the placement gets
 * wrong), then the commands. Whatever the commands, the run answers 0 or a negative code with a
 * message, touches no byte outside the files (ASan), places each file at most once and only
 * after checking its alignment; a placement that succeeded is aligned. The seed is the
 * loader petrel writes itself (tests/fuzz/corpus/fuzz_fw_loader/). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/fw_loader.h"
#include "fuzz_common.h"

FUZZ_QUIET_LOGS()

#define NFILES 4

struct fuzz_place {
	uint32_t fseg, high;      /* the bases, from the input */
	struct fw_loader_file *files;
	bool placed[NFILES];
};

static int place(void *opaque, struct fw_loader_file *f, uint32_t align, bool fseg)
{
	struct fuzz_place *p = opaque;
	size_t i = (size_t)(f - p->files);
	FUZZ_CHECK(i < NFILES && !p->placed[i]);      /* one of ours, once */
	FUZZ_CHECK(align && !(align & (align - 1)));   /* checked before the placement */
	p->placed[i] = true;
	uint32_t *base = fseg ? &p->fseg : &p->high;
	if (*base == 0xffffffffu)
		return -ENOSPC;                          /* a zone that is full */
	/* the base's low bits may leave it unaligned on purpose: the interpreter checks */
	uint32_t pad = (align - (*base & (align - 1))) & (align - 1);
	f->addr = (uint64_t)*base + (*base & 1 ? 0 : pad);
	if (*base & 2)
		f->addr |= 0xffffffff00000000ull;       /* near the top: sums that do not fit */
	*base += f->len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct acpi_blobs b;
	if (!b.tables && acpi_build_blobs(2, NULL, &b) != 0)
		abort();
	if (size < 8)
		return 0;
	struct fuzz_place p = { 0 };
	memcpy(&p.fseg, data, 4);
	memcpy(&p.high, data + 4, 4);
	/* each file a heap block of exactly its size, so ASan sees a byte past its end */
	uint8_t *tables = fuzz_dup(b.tables, b.tables_len), *rsdp = fuzz_dup(b.rsdp, b.rsdp_len);
	uint8_t small[3] = { 0xff, 0x01, 0x80 };
	uint8_t *x = fuzz_dup(small, sizeof(small));
	struct fw_loader_file files[NFILES] = {
		{ ACPI_FILE_TABLES, tables, b.tables_len, 0 },
		{ ACPI_FILE_RSDP, rsdp, b.rsdp_len, 0 },
		{ "etc/x", x, sizeof(small), 0 },
		{ "etc/empty", NULL, 0, 0 },
	};
	p.files = files;
	uint8_t *cmds = fuzz_dup(data + 8, size - 8);
	char err[256] = "";
	int r = fw_loader_run(cmds, size - 8, files, NFILES, place, &p, err, sizeof(err));
	FUZZ_CHECK(r <= 0);
	FUZZ_CHECK(r == 0 ? err[0] == '\0' : err[0] != '\0');
	if (r == 0)
		for (unsigned i = 0; i < NFILES; i++)
			FUZZ_CHECK(!p.placed[i] || files[i].addr + files[i].len >= files[i].addr);
	free(cmds);
	free(x);
	free(rsdp);
	free(tables);
	return 0;
}
