/* SPDX-License-Identifier: Apache-2.0 */
/*
 * boot: the loader did its job.  Checks the entry path (PVH start_info magic
 * or a zero page with "HdrS"), the command line, the memory map against the
 * configured memory size, and that ring 3 and int 0x80 work.
 *
 * Also where the ACPI RSDP came from (given, the EFI system table's: GRUB on
 * UEFI passes that table, or found in the BIOS areas: GRUB on BIOS passes
 * nothing); rsdp_scan=1: the scan must find the one given.
 *
 * cmdline: petrel-test-token=1234 [expect_boot=pvh|bzimage] [expect_mem=MIB]
 *          [expect_rsdp=1] [rsdp_scan=1]
 */
#include "guest.h"

DEFINE_GUEST("boot");

extern char __image_start[], __image_end[];

static long user_fn(long x)
{
	/* ring 3: do a little work and a port exit, return a value */
	long s = 0;
	for (long i = 0; i < x; i++)
		s += i;
	outb(NULL_PORT, 1);
	return cpl() == 3 ? s : -1;
}

void test_main(void)
{
	printf("boot: protocol=%s ptr=%lx magic=%s\n", boot_proto_name(boot.proto), (unsigned long)boot.boot_ptr,
	       boot.magic_ok ? "ok" : "bad");
	check(boot.magic_ok, "%s entry: boot structure at %lx has no magic", boot_proto_name(boot.proto),
	      (unsigned long)boot.boot_ptr);
	if (cmdline_has("expect_boot"))
		check(cmdline_is("expect_boot", boot_proto_name(boot.proto)), "booted via %s, expected %s",
		      boot_proto_name(boot.proto), cmdline_value("expect_boot", NULL));

	printf("boot: cmdline=\"%s\" at %lx\n", boot.cmdline, (unsigned long)boot.cmdline_paddr);
	check(cmdline_is("petrel-test-token", "1234"), "cmdline lacks petrel-test-token=1234: \"%s\"", boot.cmdline);

	uint64_t ram = 0, top = 0;
	bool covers_image = false;
	for (int i = 0; i < boot.nr_mem; i++) {
		const struct mem_region *m = &boot.mem[i];
		printf("boot: mem %016lx-%016lx type %u\n", (unsigned long)m->addr,
		       (unsigned long)(m->addr + m->size - 1), m->type);
		if (m->type != E820_RAM)
			continue;
		ram += m->size;
		if (m->addr + m->size > top)
			top = m->addr + m->size;
		if (m->addr <= (uintptr_t)__image_start && m->addr + m->size >= (uintptr_t)__image_end)
			covers_image = true;
	}
	printf("boot: ram=%lu KiB top=%lx\n", (unsigned long)(ram >> 10), (unsigned long)top);
	check(boot.nr_mem > 0, "no memory map");
	check(covers_image, "no RAM region covers the image %p-%p", __image_start, __image_end);
	long mib = cmdline_int("expect_mem", 0);
	if (mib) {
		uint64_t want = (uint64_t)mib << 20;
		/* All of it, less at most 4 MiB of holes (legacy area, firmware). */
		check(ram <= want && ram + (4u << 20) >= want, "memory map has %lu KiB of RAM, expected %ld MiB",
		      (unsigned long)(ram >> 10), mib);
	}

	if (boot.efi_systab)
		printf("boot: efi system table at %lx\n", (unsigned long)boot.efi_systab);
	printf("boot: rsdp=%lx (%s)\n", (unsigned long)boot.rsdp, boot.rsdp_from ? boot.rsdp_from : "none");
	if (cmdline_has("expect_rsdp"))
		check(boot.rsdp != 0, "no ACPI RSDP given or found");
	if (cmdline_has("rsdp_scan")) {
		uint64_t found = rsdp_scan();
		printf("boot: rsdp scan found %lx\n", (unsigned long)found);
		check(found == boot.rsdp, "the scan found the RSDP at %lx, not at %lx", (unsigned long)found,
		      (unsigned long)boot.rsdp);
	}

	long r = user_call(user_fn, 1000, 0);
	check(r == 499500, "ring 3 call returned %ld", r);
	check(cpl() == 0, "back from ring 3 at CPL %u", cpl());
	printf("boot: ring3 ok\n");
	pass();
}
