/* Unit tests for a UEFI firmware's variables file (src/boot/firmware_vars.c: checks, the file made
 * from the template, the shared mapping written through); its definition is test_config_firmware.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/firmware_vars.h"
#include "config/firmware_config.h"
#include "unit.h"

#define CODE_SIZE 3653632u   /* Debian's OVMF_CODE_4M.fd */

/* A volume of len bytes: "_FVH" at 40 unless broken */
static uint8_t *volume(size_t len, bool fv)
{
	uint8_t *b = calloc(1, len);
	if (fv)
		memcpy(b + 40, "_FVH", 4);
	return b;
}

TEST(vars_checks)
{
	char msg[256];
	uint8_t *b = volume(1 << 20, true);
	CHECK_EQ(firmware_vars_check(b, 528 << 10, CODE_SIZE, msg, sizeof(msg)), 0);
	CHECK_EQ(firmware_vars_check(b, (528 << 10) + 1, CODE_SIZE, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "a multiple of 4 KiB");
	CHECK_EQ(firmware_vars_check(b, 60 << 10, CODE_SIZE, msg, sizeof(msg)), -EINVAL);
	CHECK_EQ(firmware_vars_check(b, 1 << 20, (16u << 20) - (512u << 10), msg, sizeof(msg)), -EINVAL); /* no room */
	CHECK_EQ(firmware_vars_check(b, 64 << 10, 16u << 20, msg, sizeof(msg)), -EINVAL);
	memset(b + 40, 0, 4);
	CHECK_EQ(firmware_vars_check(b, 528 << 10, CODE_SIZE, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "not a UEFI variables file");
	CHECK(!firmware_has_fv(b, 30));
	free(b);
}

static bool have_template(void)
{
	return access(FIRMWARE_OVMF_VARS_TEMPLATE, R_OK) == 0;
}

TEST(vars_file_made_and_written_through)
{
	if (!have_template()) {
		printf("(no %s: skipped)\n", FIRMWARE_OVMF_VARS_TEMPLATE);
		return;
	}
	char dir[] = "/tmp/petrel-vars-XXXXXX", path[64], msg[400];
	REQUIRE(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/vm.vars", dir);
	struct firmware_vars v;
	REQUIRE(firmware_vars_open(path, CODE_SIZE, &v, msg, sizeof(msg)) == 0);
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	CHECK_EQ(st.st_mode & 0777, 0600);
	CHECK_EQ((size_t)st.st_size, v.size);
	CHECK(v.file);
	v.mem[v.size - 1] = 0x5a; /* a byte programmed: in the file at once */
	int fd = open(path, O_RDONLY);
	uint8_t last = 0;
	CHECK_EQ(pread(fd, &last, 1, (off_t)v.size - 1), 1);
	CHECK_EQ(last, 0x5a);
	close(fd);
	firmware_vars_close(&v);
	REQUIRE(firmware_vars_open(path, CODE_SIZE, &v, msg, sizeof(msg)) == 0); /* the same file again, not remade */
	CHECK_EQ(v.mem[v.size - 1], 0x5a);
	firmware_vars_close(&v);

	CHECK_EQ(truncate(path, 100000), 0); /* truncated: refused, named */
	CHECK_EQ(firmware_vars_open(path, CODE_SIZE, &v, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, path);
	CHECK_CONTAINS(msg, "multiple of 4 KiB");
	CHECK_EQ(truncate(path, 128 << 10), 0);
	fd = open(path, O_WRONLY);
	CHECK_EQ(pwrite(fd, "XXXX", 4, 40), 4); /* not a firmware volume */
	close(fd);
	CHECK_EQ(firmware_vars_open(path, CODE_SIZE, &v, msg, sizeof(msg)), -EINVAL);
	CHECK_CONTAINS(msg, "not a UEFI variables file");
	CHECK(v.mem == NULL);
	unlink(path);
	CHECK_EQ(firmware_vars_open(dir, CODE_SIZE, &v, msg, sizeof(msg)), -EISDIR); /* a directory */
	CHECK_CONTAINS(msg, "cannot open the vars file");
	snprintf(path, sizeof(path), "%s/no/such", dir);
	CHECK_EQ(firmware_vars_open(path, CODE_SIZE, &v, msg, sizeof(msg)), -ENOENT);
	CHECK_CONTAINS(msg, "cannot create the vars file");
	rmdir(dir);

	REQUIRE(firmware_vars_open(NULL, CODE_SIZE, &v, msg, sizeof(msg)) == 0); /* a private copy */
	CHECK(!v.file);
	CHECK(firmware_has_fv(v.mem, v.size));
	firmware_vars_close(&v);
}

int main(int argc, char **argv) { return unit_main(argc, argv); }
