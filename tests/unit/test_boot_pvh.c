/* Unit tests for src/boot's PVH support: parsing an ELF's PVH note and segments (and every way
 * an ELF can be wrong), and loading it with the hvm_start_info, command line, initrd and memory
 * map into fake guest memory. No KVM. */
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "boot/boot.h"
#include "memory/guest_mem.h"
#include "util/log.h"
#include "unit.h"
#include "boot_images.h"

static int elf_parse(struct elf *e, struct pvh_info *pi, char *err)
{
	/* exact-size copy, so any overread trips ASan */
	uint8_t *copy = malloc(e->len);
	memcpy(copy, e->buf, e->len);
	int r = pvh_parse(copy, e->len, pi, err, 256);
	free(copy);
	return r;
}

#define EXPECT_PVH_ERR(e, msg)                                                               \
	do {                                                                                 \
		struct pvh_info p_;                                                          \
		char m_[256] = "";                                                           \
		CHECK_EQ(elf_parse((e), &p_, m_), -EINVAL);                                  \
		CHECK_CONTAINS(m_, msg);                                                     \
	} while (0)

TEST(image_is_elf)
{
	CHECK_EQ(image_is_elf((const uint8_t *)"\177ELF", 4), 1);
	CHECK_EQ(image_is_elf((const uint8_t *)"\177ELF\2\1", 6), 1);
	CHECK_EQ(image_is_elf((const uint8_t *)"\177EL", 3), 0);
	CHECK_EQ(image_is_elf((const uint8_t *)"MZ\0\0", 4), 0);
	CHECK_EQ(image_is_elf((const uint8_t *)"", 0), 0);
}

TEST(pvh_parse_valid)
{
	static struct elf e;
	elf_make(&e);
	struct pvh_info pi;
	char err[256] = "";
	int r = elf_parse(&e, &pi, err);
	if (r)
		printf("  error: %s\n", err);
	REQUIRE_EQ(r, 0);
	CHECK_EQ_HEX(pi.entry, PVH_ENTRY);
	REQUIRE_EQ(pi.nseg, 1);
	CHECK_EQ_HEX(pi.seg[0].paddr, 0x1000000);
	CHECK_EQ_HEX(pi.seg[0].filesz, SEG_FILESZ);
	CHECK_EQ_HEX(pi.seg[0].memsz, SEG_MEMSZ);
	CHECK_EQ_HEX(pi.seg[0].offset, SEG_OFF);
}

TEST(pvh_parse_4_byte_note_and_other_segments)
{
	static struct elf e;
	elf_make(&e);
	/* replace the notes by one with a 4-byte descriptor, after a non-Xen note of type 18 */
	size_t n = 0;
	uint32_t entry = 0x200000, bogus = 0xdead;
	n += put_note(e.buf + NOTE_OFF + n, "Foo", 4, 18, &bogus, 4);
	n += put_note(e.buf + NOTE_OFF + n, "Xen", 4, 18, &entry, 4);
	ph(&e, 0)->p_filesz = n;
	/* a PT_GNU_STACK and a PT_DYNAMIC with junk offsets are ignored */
	elf_add_ph(&e, (Elf64_Phdr){ .p_type = PT_GNU_STACK, .p_offset = ~0ull, .p_filesz = ~0ull });
	elf_add_ph(&e, (Elf64_Phdr){ .p_type = PT_DYNAMIC, .p_offset = ~0ull });
	struct pvh_info pi;
	char err[256] = "";
	REQUIRE_EQ(elf_parse(&e, &pi, err), 0);
	CHECK_EQ_HEX(pi.entry, 0x200000);
	CHECK_EQ(pi.nseg, 1);
}

TEST(pvh_parse_rejects)
{
	static struct elf e;

	elf_make(&e);
	e.len = sizeof(Elf64_Ehdr) - 1;
	EXPECT_PVH_ERR(&e, "not an ELF");
	elf_make(&e);
	e.buf[0] = 0;
	EXPECT_PVH_ERR(&e, "not an ELF");

	elf_make(&e);
	e.buf[EI_CLASS] = ELFCLASS32;
	EXPECT_PVH_ERR(&e, "x86-64");
	elf_make(&e);
	e.buf[EI_DATA] = ELFDATA2MSB;
	EXPECT_PVH_ERR(&e, "x86-64");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_machine = EM_386;
	EXPECT_PVH_ERR(&e, "x86-64");

	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phentsize = 32;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phnum = 0;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phoff = e.len - sizeof(Elf64_Phdr) * 2 + 1;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phoff = ~0ull - 8;
	EXPECT_PVH_ERR(&e, "program headers");
	elf_make(&e);
	((Elf64_Ehdr *)e.buf)->e_phnum = 0xffff;
	EXPECT_PVH_ERR(&e, "program headers");

	/* segment outside the file, including offset + size overflowing */
	elf_make(&e);
	ph(&e, 1)->p_filesz = SEG_FILESZ + 1;
	ph(&e, 1)->p_memsz = SEG_MEMSZ;
	EXPECT_PVH_ERR(&e, "outside the file");
	elf_make(&e);
	ph(&e, 1)->p_offset = ~0ull - 0x10;
	EXPECT_PVH_ERR(&e, "outside the file");
	elf_make(&e);
	ph(&e, 1)->p_offset = 0x10;
	ph(&e, 1)->p_filesz = ~0ull;
	EXPECT_PVH_ERR(&e, "outside the file");
	elf_make(&e);
	ph(&e, 0)->p_offset = e.len;
	ph(&e, 0)->p_filesz = 1;
	EXPECT_PVH_ERR(&e, "outside the file");

	/* bad sizes */
	elf_make(&e);
	ph(&e, 1)->p_memsz = SEG_FILESZ - 1;
	EXPECT_PVH_ERR(&e, "invalid sizes");
	elf_make(&e);
	ph(&e, 1)->p_paddr = ~0ull - 0x1000;
	EXPECT_PVH_ERR(&e, "invalid sizes");

	/* no note / no PT_LOAD */
	elf_make(&e);
	ph(&e, 0)->p_type = PT_NULL;
	EXPECT_PVH_ERR(&e, "no PVH entry note");
	elf_make(&e);
	ph(&e, 1)->p_type = PT_NULL;
	EXPECT_PVH_ERR(&e, "no loadable segments");

	/* malformed notes */
	elf_make(&e);
	{
		Elf64_Nhdr nh = { 0x7fffffff, 4, 18 };
		memcpy(e.buf + NOTE_OFF, &nh, sizeof(nh));
	}
	EXPECT_PVH_ERR(&e, "malformed");
	elf_make(&e);
	{
		Elf64_Nhdr nh = { 4, 0xfffffffd, 3 }; /* descsz rounds up to 2^32 */
		memcpy(e.buf + NOTE_OFF, &nh, sizeof(nh));
	}
	EXPECT_PVH_ERR(&e, "malformed");
	elf_make(&e);
	ph(&e, 0)->p_filesz = 12 + 4 + 20 + 12 + 4 + 7; /* last descriptor cut short */
	EXPECT_PVH_ERR(&e, "malformed");

	/* an entry that does not fit in 32 bits */
	elf_make(&e);
	{
		uint64_t big = 0x100000000ull;
		memcpy(e.buf + NOTE_OFF + 12 + 4 + 20 + 12 + 4, &big, 8);
	}
	EXPECT_PVH_ERR(&e, "malformed");

	/* a note with a 2-byte descriptor is not the entry */
	elf_make(&e);
	{
		uint16_t d = 0x1234;
		size_t n = put_note(e.buf + NOTE_OFF, "Xen", 4, 18, &d, 2);
		ph(&e, 0)->p_filesz = n;
	}
	EXPECT_PVH_ERR(&e, "no PVH entry note");

	/* too many PT_LOADs */
	elf_make(&e);
	for (unsigned i = 0; i < PVH_MAX_SEGMENTS; i++)
		elf_add_ph(&e, *ph(&e, 1));
	EXPECT_PVH_ERR(&e, "more than 16");
	elf_make(&e);
	for (unsigned i = 1; i < PVH_MAX_SEGMENTS; i++)
		elf_add_ph(&e, *ph(&e, 1));
	struct pvh_info pi;
	char err[256];
	CHECK_EQ(elf_parse(&e, &pi, err), 0);
	CHECK_EQ(pi.nseg, PVH_MAX_SEGMENTS);
}

TEST(pvh_parse_never_reads_past_len)
{
	static struct elf e;
	elf_make(&e);
	size_t full = e.len;
	for (size_t n = 0; n <= full; n += (n < 0x500 ? 1 : 61)) {
		e.len = n;
		struct pvh_info pi;
		char err[256];
		int r = elf_parse(&e, &pi, err);
		CHECK_EQ(r, n == full ? 0 : -EINVAL);
	}
}

static struct boot_request pvh_req(struct elf *e, const char *cmdline)
{
	return (struct boot_request){ .kernel = e->buf, .kernel_len = e->len, .cmdline = cmdline,
				      .rsdp = 0xe0000 };
}

struct hvm_start_info_t {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};

TEST(pvh_load)
{
	static struct elf e;
	elf_make(&e);
	struct guest_mem m;
	mem_init(&m, 64 * MiB);
	memset(gp(&m, 0x1000000), 0xcc, 0x10000); /* the bss part must be zeroed */
	struct e820_entry e820[E820_MAX];
	int n = e820_build(&m, e820);
	uint8_t initrd[5000];
	for (size_t i = 0; i < sizeof(initrd); i++)
		initrd[i] = (uint8_t)(i ^ 0x5a);
	struct boot_request req = pvh_req(&e, "root=/dev/vda");
	req.e820 = e820;
	req.e820_n = n;
	req.initrd = initrd;
	req.initrd_len = sizeof(initrd);
	struct boot_info bi;
	REQUIRE_EQ(pvh_load(&m, &req, &bi), 0);
	CHECK_EQ(bi.mode, BOOT_PVH);
	CHECK_EQ_HEX(bi.entry, PVH_ENTRY);
	CHECK_EQ_HEX(bi.params, LAYOUT_START_INFO);
	CHECK_EQ_HEX(bi.kernel_end, 0x1000000 + SEG_MEMSZ);

	CHECK(memcmp(gp(&m, 0x1000000), e.buf + SEG_OFF, SEG_FILESZ) == 0);
	const uint8_t *bss = gp(&m, 0x1000000 + SEG_FILESZ);
	bool zero = true;
	for (size_t i = 0; i < SEG_MEMSZ - SEG_FILESZ; i++)
		zero &= bss[i] == 0;
	CHECK(zero);
	CHECK_EQ_HEX(*gp(&m, 0x1000000 + SEG_MEMSZ), 0xcc); /* nothing past memsz */

	struct hvm_start_info_t si;
	REQUIRE_EQ(guest_mem_read(&m, LAYOUT_START_INFO, &si, sizeof(si)), 0);
	CHECK_EQ_HEX(si.magic, 0x336ec578);
	CHECK_EQ(si.version, 1);
	CHECK_EQ_HEX(si.cmdline_paddr, LAYOUT_CMDLINE);
	CHECK_STR_EQ((const char *)gp(&m, si.cmdline_paddr), "root=/dev/vda");
	CHECK_EQ_HEX(si.rsdp_paddr, 0xe0000);
	REQUIRE_EQ(si.nr_modules, 1);
	uint64_t mod[4];
	REQUIRE_EQ(guest_mem_read(&m, si.modlist_paddr, mod, sizeof(mod)), 0);
	CHECK_EQ(mod[1], sizeof(initrd));
	CHECK(mod[0] % 4096 == 0);
	CHECK(mod[0] >= bi.kernel_end);
	CHECK(mod[0] + sizeof(initrd) <= 64 * MiB);
	CHECK(memcmp(gp(&m, mod[0]), initrd, sizeof(initrd)) == 0);
	REQUIRE_EQ(si.memmap_entries, n);
	for (int i = 0; i < n; i++) {
		uint8_t ent[24];
		REQUIRE_EQ(guest_mem_read(&m, si.memmap_paddr + 24 * (uint64_t)i, ent, 24), 0);
		CHECK_EQ_HEX(rd64(ent), e820[i].addr);
		CHECK_EQ_HEX(rd64(ent + 8), e820[i].size);
		CHECK_EQ(rd32(ent + 16), e820[i].type);
	}
	/* start info, module list and memory map do not overlap */
	CHECK(si.modlist_paddr >= LAYOUT_START_INFO + sizeof(si));
	CHECK(si.memmap_paddr >= si.modlist_paddr + 32);
	CHECK(si.memmap_paddr + 24 * E820_MAX <= LAYOUT_ZERO_PAGE);
	mem_free(&m);
}

TEST(pvh_load_without_initrd)
{
	static struct elf e;
	elf_make(&e);
	struct guest_mem m;
	mem_init(&m, 32 * MiB);
	struct boot_request req = pvh_req(&e, "");
	struct boot_info bi;
	REQUIRE_EQ(pvh_load(&m, &req, &bi), 0);
	struct hvm_start_info_t si;
	REQUIRE_EQ(guest_mem_read(&m, LAYOUT_START_INFO, &si, sizeof(si)), 0);
	CHECK_EQ(si.nr_modules, 0);
	CHECK_EQ(si.modlist_paddr, 0);
	CHECK_EQ(si.memmap_entries, 0);
	mem_free(&m);
}

TEST(pvh_load_rejects)
{
	static struct elf e;
	struct guest_mem m;
	struct boot_info bi;
	struct boot_request req;
	mem_init(&m, 32 * MiB);

	elf_make(&e); /* segment below 1 MiB */
	ph(&e, 1)->p_paddr = 0x8000;
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	elf_make(&e); /* segment past the end of RAM */
	ph(&e, 1)->p_paddr = 32 * MiB - SEG_MEMSZ + 1;
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	ph(&e, 1)->p_paddr = 32 * MiB - SEG_MEMSZ;
	CHECK_EQ(pvh_load(&m, &req, &bi), 0);
	elf_make(&e); /* in the MMIO hole */
	ph(&e, 1)->p_paddr = LAYOUT_MMIO_HOLE;
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	elf_make(&e); /* not an ELF */
	e.buf[1] = 'X';
	req = pvh_req(&e, "");
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);

	/* initrd that does not fit */
	elf_make(&e);
	req = pvh_req(&e, "");
	static const uint8_t one = 1;
	req.initrd = &one;
	req.initrd_len = 32 * MiB;
	CHECK_EQ(pvh_load(&m, &req, &bi), -ENOMEM);
	/* command line too long */
	char *big = malloc(LAYOUT_CMDLINE_MAX + 1);
	memset(big, 'c', LAYOUT_CMDLINE_MAX);
	big[LAYOUT_CMDLINE_MAX] = 0;
	req = pvh_req(&e, big);
	CHECK_EQ(pvh_load(&m, &req, &bi), -EINVAL);
	free(big);
	mem_free(&m);
}

int main(int argc, char **argv)
{
	log_set_level(LOG_OFF); /* the loaders log why they refuse; the tests check return codes */
	return unit_main(argc, argv);
}
