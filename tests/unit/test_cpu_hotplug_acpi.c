/* Unit tests for vCPU hot-plug in the ACPI tables (src/arch/x86/acpi.c): the processor
 * container's AML (byte-exact and through iasl -d), the MADT's online-capable entries and the
 * GED's call into the scan. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "arch/x86/layout.h"
#include "devices/legacy/cpu_hotplug.h"
#include "devices/legacy/ged.h"
#include "memory/guest_mem.h"
#include "unit.h"
#include "vm/vm_internal.h"

/* ---- AML ---- */

/* Device (CPUS) for two possible vCPUs at port 0x620, byte by byte (ACPI 6.4, chapter 20). */
static const uint8_t cpus2[] = {
	0x5b, 0x82, 0xc1, 0x1d, 0x00, 0x00, 'C', 'P', 'U', 'S',          /* Device (CPUS), PkgLength 465 */
	0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '0', 0x00,
	0x08, '_', 'C', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x05,          /* EisaId ("PNP0A05") */
	0x5b, 0x01, 'C', 'P', 'L', 'K', 0x00,                            /* Mutex (CPLK, 0) */
	0x5b, 0x80, 'P', 'R', 'S', 'T', 0x01, 0x0b, 0x20, 0x06, 0x0a, 0x08, /* OperationRegion (SystemIO) */
	0x5b, 0x81, 0xce, 0x00, 0x00, 0x00, 'P', 'R', 'S', 'T', 0x03,    /* Field (DWordAcc, Preserve) */
	'C', 'S', 'E', 'L', 0x20,
	0x5b, 0x81, 0xcf, 0x01, 0x00, 0x00, 'P', 'R', 'S', 'T', 0x41,    /* Field (ByteAcc, WriteAsZeros) */
	0x00, 0x20,                                                      /* Offset (4) */
	'C', 'P', 'E', 'N', 0x01, 'C', 'I', 'N', 'S', 0x01, 'C', 'R', 'M', 'V', 0x01, 'C', 'E', 'J', 'F', 0x01,
	0x14, 0xc1, 0x03, 0x00, 0x00, 'C', 'S', 'T', 'A', 0x09,          /* Method (CSTA, 1, Serialized) */
	0x5b, 0x23, 'C', 'P', 'L', 'K', 0xff, 0xff,                      /* Acquire (CPLK, 0xFFFF) */
	0x70, 0x68, 'C', 'S', 'E', 'L',                                  /* CSEL = Arg0 */
	0x70, 0x00, 0x60,                                                /* Local0 = Zero */
	0xa0, 0xce, 0x00, 0x00, 0x00, 0x93, 'C', 'P', 'E', 'N', 0x01,    /* If (CPEN == One) */
	0x70, 0x0a, 0x0f, 0x60,                                          /* Local0 = 0x0F */
	0x5b, 0x27, 'C', 'P', 'L', 'K', 0xa4, 0x60,                      /* Release; Return (Local0) */
	0x14, 0xc3, 0x02, 0x00, 0x00, 'C', 'E', 'J', '0', 0x09,          /* Method (CEJ0, 1, Serialized) */
	0x5b, 0x23, 'C', 'P', 'L', 'K', 0xff, 0xff, 0x70, 0x68, 'C', 'S', 'E', 'L',
	0x70, 0x01, 'C', 'E', 'J', 'F', 0x5b, 0x27, 'C', 'P', 'L', 'K',  /* CEJF = One; Release */
	0x14, 0xc5, 0x02, 0x00, 0x00, 'C', 'T', 'F', 'Y', 0x02,          /* Method (CTFY, 2) */
	0xa0, 0xcd, 0x00, 0x00, 0x00, 0x93, 0x68, 0x00, 0x86, 'C', '0', '0', '0', 0x69, /* If (Arg0 == 0) Notify (C000, Arg1) */
	0xa0, 0xcd, 0x00, 0x00, 0x00, 0x93, 0x68, 0x01, 0x86, 'C', '0', '0', '1', 0x69,
	0x14, 0xca, 0x05, 0x00, 0x00, 'C', 'S', 'C', 'N', 0x08,          /* Method (CSCN, 0, Serialized) */
	0x5b, 0x23, 'C', 'P', 'L', 'K', 0xff, 0xff, 0x70, 0x00, 0x60,
	0xa2, 0xcf, 0x03, 0x00, 0x00, 0x95, 0x60, 0x0a, 0x02,            /* While (Local0 < 2) */
	0x70, 0x60, 'C', 'S', 'E', 'L',
	0xa0, 0xc6, 0x01, 0x00, 0x00, 0x93, 'C', 'I', 'N', 'S', 0x01,    /* If (CINS == One) */
	'C', 'T', 'F', 'Y', 0x60, 0x01, 0x70, 0x01, 'C', 'I', 'N', 'S',  /* CTFY (Local0, 1); CINS = One */
	0xa0, 0xc7, 0x01, 0x00, 0x00, 0x93, 'C', 'R', 'M', 'V', 0x01,    /* If (CRMV == One) */
	'C', 'T', 'F', 'Y', 0x60, 0x0a, 0x03, 0x70, 0x01, 'C', 'R', 'M', 'V',
	0x75, 0x60, 0x5b, 0x27, 'C', 'P', 'L', 'K',                      /* Local0++; Release */
	0x5b, 0x82, 0xc1, 0x04, 0x00, 0x00, 'C', '0', '0', '0',          /* Device (C000) */
	0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00,
	0x08, '_', 'U', 'I', 'D', 0x00,
	0x14, 0xcf, 0x00, 0x00, 0x00, '_', 'S', 'T', 'A', 0x00, 0xa4, 'C', 'S', 'T', 'A', 0x00,
	0x08, '_', 'M', 'A', 'T', 0x11, 0xce, 0x00, 0x00, 0x00, 0x0a, 0x08, /* Buffer (8) { LAPIC 0/0, enabled } */
	0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
	0x5b, 0x82, 0xc0, 0x05, 0x00, 0x00, 'C', '0', '0', '1',          /* Device (C001) */
	0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00,
	0x08, '_', 'U', 'I', 'D', 0x01,
	0x14, 0xcf, 0x00, 0x00, 0x00, '_', 'S', 'T', 'A', 0x00, 0xa4, 'C', 'S', 'T', 'A', 0x01,
	0x08, '_', 'M', 'A', 'T', 0x11, 0xce, 0x00, 0x00, 0x00, 0x0a, 0x08,
	0x00, 0x08, 0x01, 0x01, 0x01, 0x00, 0x00, 0x00,
	0x14, 0xce, 0x00, 0x00, 0x00, '_', 'E', 'J', '0', 0x01, 'C', 'E', 'J', '0', 0x01, /* _EJ0 (1) { CEJ0 (1) } */
};

TEST(aml_container_byte_exact)
{
	uint8_t buf[1024];
	struct aml a;
	aml_init(&a, buf, sizeof(buf));
	acpi_build_cpus(&a, 2, CPUHP_PORT);
	REQUIRE(!a.overflow);
	CHECK_EQ(a.len, sizeof(cpus2));
	for (size_t i = 0; i < a.len && i < sizeof(cpus2); i++)
		if (buf[i] != cpus2[i]) {
			UNIT_FAIL_("byte %zu: 0x%02x, expected 0x%02x", i, buf[i], cpus2[i]);
			break;
		}
	/* a short buffer overflows cleanly */
	aml_init(&a, buf, 100);
	acpi_build_cpus(&a, 2, CPUHP_PORT);
	CHECK(a.overflow);
}

static struct guest_mem M;

static void mem_init(void)
{
	memset(&M, 0, sizeof(M));
	M.regions[0] = (struct guest_region){ 0, 2u << 20, calloc(1, 2u << 20) };
	M.nregions = 1;
	M.total = 2u << 20;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* Fresh guest memory and the ACPI tables for `boot` vCPUs of at most `max` (d: the GED and the
 * hot-plug controller), the RSDP's address in *rsdp; acpi_build_devices' result. */
static int build_tables(unsigned boot, unsigned max, struct acpi_devices *d, uint64_t *rsdp)
{
	mem_init();
	memset(d, 0, sizeof(*d));
	d->ged = true;
	d->ged_port = GED_PORT;
	d->ged_gsi = LAYOUT_GED_GSI;
	d->cpu_max = max;
	d->cpuhp_port = CPUHP_PORT;
	return acpi_build_devices(&M, boot, d, false, rsdp);
}

/* The table with signature sig that the XSDT lists (or the DSDT through the FADT). */
static const uint8_t *find_table(uint64_t rsdp, const char *sig)
{
	const uint8_t *p = M.regions[0].hva;
	uint64_t xsdt = rd64(p + rsdp + 24);
	for (unsigned i = 0; i < (rd32(p + xsdt + 4) - 36) / 8; i++) {
		const uint8_t *t = p + rd64(p + xsdt + 36 + 8 * i);
		if (!memcmp(sig, "DSDT", 4) && !memcmp(t, "FACP", 4))
			return p + rd64(t + 140);
		if (!memcmp(t, sig, 4))
			return t;
	}
	return NULL;
}

TEST(madt_lists_possible_cpus_online_capable)
{
	struct acpi_devices d;
	uint64_t rsdp;
	REQUIRE_EQ(build_tables(2, 5, &d, &rsdp), 0);
	const uint8_t *madt = find_table(rsdp, "APIC");
	REQUIRE(madt != NULL);
	CHECK_EQ(madt[8], 5); /* revision 5: Linux honours the online-capable bit */
	unsigned n = 0;
	for (uint32_t off = 44; off < rd32(madt + 4); off += madt[off + 1]) {
		if (madt[off] != 0)
			continue;
		CHECK_EQ(madt[off + 2], n); /* UID */
		CHECK_EQ(madt[off + 3], n); /* APIC ID */
		CHECK_EQ_HEX(rd32(madt + off + 4), n < 2 ? 1u : 2u); /* enabled / online capable */
		n++;
	}
	CHECK_EQ(n, 5);
	/* a max below the boot count, or past 255, is refused */
	d.cpu_max = 1;
	CHECK_EQ(acpi_build_devices(&M, 2, &d, false, &rsdp), -EINVAL);
	d.cpu_max = 256;
	CHECK_EQ(acpi_build_devices(&M, 2, &d, false, &rsdp), -EINVAL);
	/* the largest machine still fits below the VM generation ID page */
	d.cpu_max = VM_MAX_VCPUS;
	CHECK_EQ(acpi_build_devices(&M, 2, &d, false, &rsdp), 0);
	free(M.regions[0].hva);
}

/* The text file at path into buf (NUL-terminated; empty if it cannot be read). */
static void read_text(const char *path, char *buf, size_t size)
{
	size_t n = 0;
	FILE *f = fopen(path, "r");
	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = 0;
}

static bool has_bytes(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (!memcmp(hay + i, needle, m))
			return true;
	return false;
}

TEST(ged_evt_calls_the_scan)
{
	struct acpi_devices d;
	uint64_t rsdp;
	REQUIRE_EQ(build_tables(1, 2, &d, &rsdp), 0);
	const uint8_t *dsdt = find_table(rsdp, "DSDT");
	REQUIRE(dsdt != NULL);
	/* If (And (Local0, 0x02, Zero)) { \_SB.CPUS.CSCN () } */
	static const uint8_t evt[] = { 0xa0, 0xc8, 0x01, 0x00, 0x00, 0x7b, 0x60, 0x0a, 0x02, 0x00, '\\', 0x2f,
				       0x03, '_', 'S', 'B', '_', 'C', 'P', 'U', 'S', 'C', 'S', 'C', 'N' };
	CHECK(has_bytes(dsdt, rd32(dsdt + 4), evt, sizeof(evt)));
	CHECK(has_bytes(dsdt, rd32(dsdt + 4), cpus2, sizeof(cpus2)));
	/* the container comes before the GED that calls into it */
	const uint8_t *cpus = NULL, *ged = NULL;
	for (uint32_t i = 0; i + 4 < rd32(dsdt + 4); i++) {
		if (!cpus && !memcmp(dsdt + i, "CPUS", 4))
			cpus = dsdt + i;
		if (!ged && !memcmp(dsdt + i, "GED0", 4))
			ged = dsdt + i;
	}
	CHECK(cpus && ged && cpus < ged);
	free(M.regions[0].hva);
}

TEST(dsdt_with_cpus_disassembles_with_iasl)
{
	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		printf("SKIP dsdt_with_cpus_disassembles_with_iasl: no iasl (apt-get install acpica-tools)\n");
		return;
	}
	struct acpi_devices d;
	uint64_t rsdp;
	REQUIRE_EQ(build_tables(2, 4, &d, &rsdp), 0);
	const uint8_t *dsdt = find_table(rsdp, "DSDT"), *madt = find_table(rsdp, "APIC");
	REQUIRE(dsdt && madt);
	char dir[] = "/tmp/petrel-cpuhp-XXXXXX";
	REQUIRE(mkdtemp(dir) != NULL);
	char path[128], cmd[512];
	const uint8_t *tabs[2] = { dsdt, madt };
	const char *names[2] = { "dsdt", "apic" };
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s.dat", dir, names[i]);
		FILE *f = fopen(path, "wb");
		REQUIRE(f != NULL);
		CHECK_EQ(fwrite(tabs[i], 1, rd32(tabs[i] + 4), f), rd32(tabs[i] + 4));
		fclose(f);
	}
	snprintf(cmd, sizeof(cmd), "cd %s && iasl -d dsdt.dat apic.dat >iasl.log 2>&1", dir);
	CHECK_EQ(system(cmd), 0);
	static char dsl[131072];
	snprintf(path, sizeof(path), "%s/dsdt.dsl", dir);
	read_text(path, dsl, sizeof(dsl));
	CHECK_CONTAINS(dsl, "Device (CPUS)");
	CHECK_CONTAINS(dsl, "Name (_HID, \"ACPI0010\"");
	CHECK_CONTAINS(dsl, "Mutex (CPLK, 0x00)");
	CHECK_CONTAINS(dsl, "OperationRegion (PRST, SystemIO, 0x0620, 0x08)");
	CHECK_CONTAINS(dsl, "Field (PRST, ByteAcc, NoLock, WriteAsZeros)");
	CHECK_CONTAINS(dsl, "Method (CSTA, 1, Serialized)");
	CHECK_CONTAINS(dsl, "Method (CSCN, 0, Serialized)");
	CHECK_CONTAINS(dsl, "While ((Local0 < 0x04))");
	CHECK_CONTAINS(dsl, "CTFY (Local0, 0x03)");
	CHECK_CONTAINS(dsl, "Notify (C003, Arg1)");
	CHECK_CONTAINS(dsl, "Device (C003)");
	CHECK_CONTAINS(dsl, "Name (_HID, \"ACPI0007\"");
	CHECK_CONTAINS(dsl, "Return (CSTA (0x03))");
	CHECK_CONTAINS(dsl, "0x00, 0x08, 0x03, 0x03, 0x01, 0x00, 0x00, 0x00");
	CHECK_CONTAINS(dsl, "CEJ0 (0x03)");
	CHECK_CONTAINS(dsl, "\\_SB.CPUS.CSCN ()");
	CHECK(!strstr(dsl, "CEJ0 (Zero)")); /* the boot CPU has no _EJ0 */
	snprintf(path, sizeof(path), "%s/apic.dsl", dir);
	static char apic[65536];
	read_text(path, apic, sizeof(apic));
	CHECK_CONTAINS(apic, "Runtime Online Capable : 1");
	CHECK_CONTAINS(apic, "Processor Enabled : 0");
	if (!strstr(dsl, "Device (CPUS)")) {
		snprintf(cmd, sizeof(cmd), "cat %s/iasl.log", dir);
		CHECK_EQ(system(cmd), 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	free(M.regions[0].hva);
}

int main(int argc, char **argv)
{
	return unit_main(argc, argv);
}
