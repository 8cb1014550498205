/* Unit tests for src/arch/x86/fw_loader.c: the table loader's commands as bytes (the format
 * SeaBIOS's romfile_loader.c reads), the interpreter's arithmetic, and each refusal with its
 * message. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/fw_loader.h"
#include "util/codec.h"
#include "unit.h"

/* Placement: FSEG files from 0xf0000, HIGH from 0x7ff00000, each at its alignment; fail set:
 * every placement fails with -ENOSPC; misalign set: the address is one byte off. */
struct zones {
	uint64_t fseg, high;
	bool fail, misalign;
	unsigned calls;
};

static int place(void *opaque, struct fw_loader_file *f, uint32_t align, bool fseg)
{
	struct zones *z = opaque;
	z->calls++;
	if (z->fail)
		return -ENOSPC;
	uint64_t *next = fseg ? &z->fseg : &z->high;
	*next = (*next + align - 1) & ~(uint64_t)(align - 1);
	f->addr = *next + (z->misalign ? 1 : 0);
	*next += f->len;
	return 0;
}

static struct zones Z;
static uint8_t A[64], B[32];
static struct fw_loader_file F[2];
static char E[256];

static void reset(void)
{
	Z = (struct zones){ 0xf0000, 0x7ff00000, false, false, 0 };
	memset(A, 0, sizeof(A));
	memset(B, 0, sizeof(B));
	F[0] = (struct fw_loader_file){ "etc/a", A, sizeof(A), 0 };
	F[1] = (struct fw_loader_file){ "etc/b", B, sizeof(B), 0 };
	E[0] = '\0';
}

static int run(const struct fw_loader *l)
{
	return fw_loader_run(l->cmds, l->len, F, 2, place, &Z, E, sizeof(E));
}

TEST(command_bytes)
{
	struct fw_loader l = { 0 };
	REQUIRE_EQ(fw_loader_allocate(&l, "etc/acpi/rsdp", 16, true), 0);
	REQUIRE_EQ(fw_loader_add_pointer(&l, "etc/acpi/rsdp", "etc/acpi/tables", 24, 8), 0);
	REQUIRE_EQ(fw_loader_add_checksum(&l, "etc/acpi/rsdp", 32, 0, 36), 0);
	REQUIRE_EQ(l.len, 3 * 128);
	const uint8_t *c = l.cmds;
	CHECK_EQ(le_load(c, 4), 1);
	CHECK(strcmp((const char *)c + 4, "etc/acpi/rsdp") == 0);
	CHECK_EQ(le_load(c + 60, 4), 16);     /* align after the 56-byte name */
	CHECK_EQ(c[64], 2);                   /* zone FSEG */
	c += 128;
	CHECK_EQ(le_load(c, 4), 2);
	CHECK(strcmp((const char *)c + 4, "etc/acpi/rsdp") == 0);
	CHECK(strcmp((const char *)c + 60, "etc/acpi/tables") == 0);
	CHECK_EQ(le_load(c + 116, 4), 24);
	CHECK_EQ(c[120], 8);
	c += 128;
	CHECK_EQ(le_load(c, 4), 3);
	CHECK_EQ(le_load(c + 60, 4), 32);
	CHECK_EQ(le_load(c + 64, 4), 0);
	CHECK_EQ(le_load(c + 68, 4), 36);
	/* the rest of each command is zero */
	bool zero = true;
	for (size_t i = 72; i < 128; i++)
		zero &= c[i] == 0;
	CHECK(zero);
	fw_loader_free(&l);
	CHECK(l.cmds == NULL && l.len == 0);
}

TEST(builders_refuse)
{
	struct fw_loader l = { 0 };
	char name[80];
	memset(name, 'x', sizeof(name));
	name[55] = '\0';
	CHECK_EQ(fw_loader_allocate(&l, name, 16, false), 0); /* 55 characters fit */
	name[55] = 'x';
	name[56] = '\0';
	CHECK_EQ(fw_loader_allocate(&l, name, 16, false), -ENAMETOOLONG);
	CHECK_EQ(fw_loader_add_pointer(&l, "a", name, 0, 4), -ENAMETOOLONG);
	CHECK_EQ(fw_loader_add_checksum(&l, name, 0, 0, 1), -ENAMETOOLONG);
	CHECK_EQ(fw_loader_allocate(&l, "a", 0, false), -EINVAL);
	CHECK_EQ(fw_loader_allocate(&l, "a", 24, false), -EINVAL);
	CHECK_EQ(fw_loader_add_pointer(&l, "a", "b", 0, 3), -EINVAL);
	CHECK_EQ(fw_loader_add_pointer(&l, "a", "b", 0, 0), -EINVAL);
	CHECK_EQ(l.len, 128); /* nothing but the first */
	fw_loader_free(&l);
}

TEST(pointers_and_checksums)
{
	reset();
	struct fw_loader l = { 0 };
	le_store(A + 8, 0x10, 4);    /* offset 0x10 into etc/b */
	le_store(A + 16, 4, 8);
	le_store(A + 24, 0xfe, 1);
	A[40] = 7;
	REQUIRE_EQ(fw_loader_allocate(&l, "etc/a", 64, false), 0);
	REQUIRE_EQ(fw_loader_allocate(&l, "etc/b", 16, true), 0);
	REQUIRE_EQ(fw_loader_add_pointer(&l, "etc/a", "etc/b", 8, 4), 0);
	REQUIRE_EQ(fw_loader_add_pointer(&l, "etc/a", "etc/a", 16, 8), 0);
	REQUIRE_EQ(fw_loader_add_checksum(&l, "etc/a", 33, 0, 64), 0);
	REQUIRE_EQ(run(&l), 0);
	CHECK_EQ(Z.calls, 2);
	CHECK_EQ_HEX(F[0].addr, 0x7ff00000);
	CHECK_EQ_HEX(F[1].addr, 0xf0000);
	CHECK_EQ_HEX(le_load(A + 8, 4), 0xf0010);
	CHECK_EQ_HEX(le_load(A + 16, 8), 0x7ff00004);
	uint8_t s = 0;
	for (size_t i = 0; i < sizeof(A); i++)
		s = (uint8_t)(s + A[i]);
	CHECK_EQ(s, 0);
	CHECK_EQ(fw_byte_sum(A, sizeof(A)), 0);
	fw_loader_free(&l);
}

/* One command list, run: its code and message. */
#define EXPECT_ERR(l, code, text)                                                  \
	do {                                                                       \
		CHECK_EQ(run(l), code);                                            \
		CHECK_CONTAINS(E, text);                                           \
	} while (0)

TEST(refusals)
{
	struct fw_loader l = { 0 };
	/* a length that is no multiple of 128 */
	reset();
	uint8_t junk[130] = { 1 };
	CHECK_EQ(fw_loader_run(junk, sizeof(junk), F, 2, place, &Z, E, sizeof(E)), -EINVAL);
	CHECK_CONTAINS(E, "no multiple of 128");
	/* an unknown file */
	reset();
	fw_loader_allocate(&l, "etc/c", 16, false);
	EXPECT_ERR(&l, -EINVAL, "command 0: file \"etc/c\": no such file");
	fw_loader_free(&l);
	/* allocated twice */
	reset();
	fw_loader_allocate(&l, "etc/a", 16, false);
	fw_loader_allocate(&l, "etc/a", 16, false);
	EXPECT_ERR(&l, -EINVAL, "command 1: file \"etc/a\" is allocated twice");
	fw_loader_free(&l);
	/* named before its ALLOCATE: destination, source, checksum */
	reset();
	fw_loader_allocate(&l, "etc/a", 16, false);
	fw_loader_add_pointer(&l, "etc/a", "etc/b", 0, 4);
	EXPECT_ERR(&l, -EINVAL, "source \"etc/b\" is named before its ALLOCATE");
	fw_loader_free(&l);
	reset();
	fw_loader_add_checksum(&l, "etc/a", 0, 0, 4);
	EXPECT_ERR(&l, -EINVAL, "file \"etc/a\" is named before its ALLOCATE");
	fw_loader_free(&l);
	/* a pointer field past the end of its file */
	reset();
	fw_loader_allocate(&l, "etc/a", 16, false);
	fw_loader_add_pointer(&l, "etc/a", "etc/a", 60, 8);
	EXPECT_ERR(&l, -EINVAL, "pointer field [60, 68) is past the end of \"etc/a\" (64 bytes)");
	fw_loader_free(&l);
	/* a pointer that does not fit its field: a 2-byte field, an address above 64 KiB */
	reset();
	fw_loader_allocate(&l, "etc/b", 16, true);
	fw_loader_add_pointer(&l, "etc/b", "etc/b", 0, 2);
	EXPECT_ERR(&l, -EINVAL, "does not fit in 2 bytes");
	fw_loader_free(&l);
	/* checksum byte or range outside the file */
	reset();
	fw_loader_allocate(&l, "etc/b", 16, true);
	fw_loader_add_checksum(&l, "etc/b", 32, 0, 4);
	EXPECT_ERR(&l, -EINVAL, "checksum byte 32 is past the end of \"etc/b\" (32 bytes)");
	fw_loader_free(&l);
	reset();
	fw_loader_allocate(&l, "etc/b", 16, true);
	fw_loader_add_checksum(&l, "etc/b", 0, 0xfffffff0u, 0x20);
	EXPECT_ERR(&l, -EINVAL, "checksum range [4294967280, 4294967312) is past the end");
	fw_loader_free(&l);
	/* a placement that fails, or misses its alignment */
	reset();
	Z.fail = true;
	fw_loader_allocate(&l, "etc/a", 16, false);
	EXPECT_ERR(&l, -ENOSPC, "cannot place file \"etc/a\" (64 bytes, HIGH): No space left on device");
	reset();
	Z.misalign = true;
	EXPECT_ERR(&l, -EINVAL, "off its alignment 16");
	fw_loader_free(&l);
	/* an empty file */
	reset();
	F[1].len = 0;
	fw_loader_allocate(&l, "etc/b", 16, false);
	EXPECT_ERR(&l, -EINVAL, "file \"etc/b\" is empty");
	fw_loader_free(&l);
}

/* Hand-made commands the builders refuse to write. */
TEST(refusals_of_raw_fields)
{
	struct fw_loader l = { 0 };
	fw_loader_allocate(&l, "etc/a", 16, false);
	fw_loader_add_pointer(&l, "etc/a", "etc/a", 0, 4);
	uint8_t *alloc = l.cmds, *ptr = l.cmds + 128;
	reset();
	le_store(alloc + 60, 24, 4);
	EXPECT_ERR(&l, -EINVAL, "alignment 24 is not a power of two");
	reset();
	le_store(alloc + 60, 0, 4);
	EXPECT_ERR(&l, -EINVAL, "alignment 0 is not a power of two");
	le_store(alloc + 60, 16, 4);
	reset();
	alloc[64] = 3;
	EXPECT_ERR(&l, -EINVAL, "unknown zone 3");
	alloc[64] = 1;
	reset();
	ptr[120] = 3;
	EXPECT_ERR(&l, -EINVAL, "command 1: pointer size 3 is not 1, 2, 4 or 8");
	ptr[120] = 4;
	reset();
	memset(ptr + 60, 'x', 56); /* the source's name without its NUL */
	EXPECT_ERR(&l, -EINVAL, "source name is not NUL-terminated within 56 bytes");
	reset();
	le_store(ptr, 4, 4);
	EXPECT_ERR(&l, -EINVAL, "WRITE_POINTER");
	reset();
	le_store(ptr, 9, 4);
	EXPECT_ERR(&l, -EINVAL, "command 1: unknown command 9");
	/* the first command still ran: it is the one placed */
	CHECK_EQ(Z.calls, 1);
	fw_loader_free(&l);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
